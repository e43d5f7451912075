"""`forecast study` end to end on a miniature preset, logged to a real tracking server."""

from __future__ import annotations

import yaml
from mlflow import MlflowClient

from pipelines.cli import main

MINI = {
    "speed": {"lookbacks": [24, 48], "repeats": 1, "train_batch": 2, "infer_batch": 4,
              "thread_lookback": 48, "horizon": 6},
    "dependency": {"distances": [4, 8], "steps": 3, "batch_size": 8, "n_test": 16,
                   "gradient_length": 40, "gradient_seeds": 1},
    "real": {"lookbacks": [48], "models": ["transformer"], "config": "quick",
             "overrides": ["trainer.max_epochs=1", "trainer.limit_train_batches=2",
                           "trainer.limit_val_batches=1"]},
    "attention": {"config": "quick", "windows": 4,
                  "overrides": ["trainer.max_epochs=1", "trainer.limit_train_batches=2",
                                "trainer.limit_val_batches=1"]},
}


def test_study_writes_report_tables_plots_and_logs_them(tmp_path, tracking_server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "mini.yaml"
    config.write_text(yaml.safe_dump({**MINI, "experiment": "study-test"}))
    assert main(["study", "--config", str(config), "--output", "report"]) == 0
    report = (tmp_path / "report" / "study.md").read_text()
    for heading in ("| aspect | RNN (LSTM/GRU) | Attention (Transformer) | measured here |",
                    "## 1. Speed and memory", "## 2. Long-range dependency",
                    "## 3. vic_elec accuracy", "## 4. Attention on vic_elec"):
        assert heading in report
    for aspect in ("processing", "long-range dependencies", "parallelism over time",
                   "how it uses the past", "efficiency on long sequences"):
        assert f"| {aspect} |" in report
    images = {p.name for p in (tmp_path / "report").glob("*.png")}
    assert images == {"study_speed.png", "study_dependency.png", "study_gradients.png",
                      "study_real.png", "study_attention.png"}
    for image in images:
        assert f"]({image})" in report
    speed = (tmp_path / "report" / "study_speed.csv").read_text().splitlines()
    assert len(speed) == 1 + 2 * 4  # header + two lookbacks x four families

    # re-run one part (the cheapest: speed starts a process per measurement); the others,
    # speed included, are read back from the same folder
    speed_table = (tmp_path / "report" / "study_speed.csv").read_text()
    (tmp_path / "report" / "study_dependency.csv").unlink()
    assert main(["study", "--config", str(config), "--output", "report", "--no-tracking",
                 "--parts", "dependency"]) == 0
    rerun = (tmp_path / "report" / "study.md").read_text()
    assert "Parts dependency were re-run" in rerun and "## 4. Attention on vic_elec" in rerun
    assert "## 1. Speed and memory" in rerun
    assert (tmp_path / "report" / "study_dependency.csv").is_file()
    assert (tmp_path / "report" / "study_speed.csv").read_text() == speed_table

    client = MlflowClient(tracking_server)
    experiment = client.get_experiment_by_name("study-test")
    [run] = client.search_runs([experiment.experiment_id])
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "study")}
    assert "study/study.md" in logged and "study/study_attention.png" in logged
    assert "lstm_train_ms_per_sample" in run.data.metrics


def test_bad_study_config_is_a_clear_error(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("speed: {lookback: [1]}\n")
    assert main(["study", "--config", str(config), "--no-tracking"]) == 2
    assert "lookback" in capsys.readouterr().err
