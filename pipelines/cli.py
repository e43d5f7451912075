"""The `forecast` command line: the parser and the entry point (commands in `commands.py`)."""

from __future__ import annotations

import argparse
import os
import sys

from rich.markup import escape

from forecast.errors import ForecastError
from forecast.models import families, tunable_names

from .commands import (
    cmd_actuals,
    cmd_compare,
    cmd_inspect,
    cmd_log_run,
    cmd_models,
    cmd_monitor,
    cmd_predict,
    cmd_promote,
    cmd_retrain,
    cmd_serve,
    cmd_study,
    cmd_train,
    cmd_tune,
    errors,
)
from .quiet import silence_libraries, verbose_requested
from .redaction import redact


def add_distributed(p: argparse.ArgumentParser) -> None:
    """Lightning's own distributed training: only rank 0 writes, logs and registers."""
    group = p.add_argument_group("distributed training (Lightning strategies)")
    group.add_argument("--devices", help="processes per machine on CPU, GPUs per machine "
                       "(trainer.devices)")
    group.add_argument("--strategy", help="ddp (gloo on CPU, NCCL on GPUs), or any Lightning "
                       "strategy (trainer.strategy)")
    group.add_argument("--num-nodes", type=int, help="machines taking part (trainer.num_nodes)")


def add_log_url(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-url", help="forecast log database (default: $FORECAST_LOG_URL or "
                   ".forecast/forecast_log.db)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forecast",
        description="Train, compare and serve LSTM, GRU and Transformer forecasters. Runs are "
        "tracked in MLflow (MLFLOW_TRACKING_URI, default: ./mlflow.db).",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", "-v", action="store_true", help="show the libraries' own "
                        "output too (Lightning, MLflow, Optuna: banners, tips, INFO lines, "
                        "deprecation warnings); also FORECAST_VERBOSE=1")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_parser = sub.add_parser
    sub.add_parser = lambda *a, **k: _add_parser(*a, parents=[common], **k)  # every command

    def add(name: str, help_text: str, func) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--config", help="YAML config file, or a preset name in "
                       "pipelines/configs (default, quick); default: default")
        p.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override any config value, e.g. --set trainer.max_epochs=3")
        p.set_defaults(func=func)
        return p

    p = add("train", "Train one model, evaluate it on the test window and log the run.",
            cmd_train)
    p.add_argument("--model", choices=[f.name for f in families()], metavar="MODEL",
                   help="model to train (default: model.name of the config): " + "; ".join(
                       f"{f.name} ({f.description})" if f.description else f.name
                       for f in families()))
    p.add_argument("--data", help="CSV or Parquet file in long format (default: vic_elec)")
    p.add_argument("--init-from", metavar="MODEL_URI", help="continue training from a "
                   "registered version (models:/forecaster@champion, models:/forecaster/3): "
                   "its weights and configuration on --data, the scaler refreshed, "
                   "trainer.max_epochs 5 unless set; registered through champion gating")
    add_distributed(p)
    p = add("retrain", "Continued training of the champion on newer data when its live status "
            "is degraded (from the forecast log), or always; for a daily scheduler.",
            cmd_retrain)
    p.add_argument("--when", choices=["degraded", "always"], default="degraded")
    p.add_argument("--data", help="the newer data (default: the data the version trained on)")
    p.add_argument("--window-days", type=float, default=28.0, help="days of forecast origins "
                   "scored (default 28)")
    add_log_url(p)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p = add("actuals", "Record actuals (unique_id, ds, y) for logged forecasts, as POST "
            "/actuals does: idempotent on (unique_id, ds); moves the adaptive intervals.",
            cmd_actuals)
    p.add_argument("--data", required=True, help="CSV or Parquet file: unique_id, ds, y (or as "
                   "trained: --set data.layout=wide, --set data.columns.y=COLUMN ...)")
    add_log_url(p)
    p = add("monitor", "Live scores, status and drift per registered version from the "
            "forecast log, logged to MLflow as a monitoring run tied to the version.",
            cmd_monitor)
    p.add_argument("--window-days", type=float, default=28.0, help="days of forecast origins "
                   "scored, back from the latest (default 28)")
    add_log_url(p)
    p.add_argument("--no-mlflow", action="store_true", help="print only")
    p = add("compare", "Train every model and baseline on the same split, backtest them, log a "
            "parent run with a comparison table and register the best; 'champion' moves only "
            "if it beats the current champion on the same test window.", cmd_compare)
    p.add_argument("--data", help="CSV or Parquet file in long format (default: vic_elec)")
    add_distributed(p)
    add("models", "List registered versions with their aliases and scores.", cmd_models)
    p = add("inspect", "What a data file holds (series, lengths, frequency, gaps, non-finite "
            "values, columns that could be covariates) and the config it would train with.",
            cmd_inspect)
    p.add_argument("data", metavar="FILE", help="CSV or Parquet file in long format")
    p.add_argument("--output", help="write the config as YAML here (for --config)")
    p = add("promote", "Move the champion alias to a version by hand.", cmd_promote)
    p.add_argument("--version", required=True, type=int, help="registered version number")
    p = add("log-run", "Log a run bundle kept on disk after a tracking failure, to the "
            "experiment it was trained for (or --set tracking.experiment=NAME); runs the failed "
            "attempt left RUNNING are marked FAILED.", cmd_log_run)
    p.add_argument("directory", help="bundle directory printed by the failed command")
    p = add("tune", "Tune a model family with Optuna: trials shared through a database by any "
            "number of workers, each trial a nested MLflow run, the best config written as "
            "YAML for `forecast train --config`.", cmd_tune)
    p.add_argument("--model", required=True, choices=tunable_names(), help="family to tune")
    p.add_argument("--trials", type=int, help="trials in the study in all, across workers "
                   "(tune.trials, default 20)")
    p.add_argument("--storage", help="Optuna storage URL (tune.storage, default "
                   "sqlite:///optuna.db: fine for workers on one machine; use PostgreSQL, e.g. "
                   "postgresql+psycopg://user:pw@host/db, for several machines)")
    p.add_argument("--study", help="study name (default tune-<model>); workers with the same "
                   "storage and name share it")
    p.add_argument("--objective", choices=["val_loss", "val_mae"], help="what ranks and prunes "
                   "trials (tune.objective, default val_loss): val_mae is in the data's units, "
                   "so the search also draws model.loss_weighting")
    p.add_argument("--output", help="where to write the best config (default "
                   "tuned-<model>.yaml)")
    p.add_argument("--data", help="CSV or Parquet file in long format (default: vic_elec)")
    p.add_argument("--register", action="store_true", help="then train the best config and "
                   "register it through the usual champion gating; once per study, by one of "
                   "the workers that pass it")
    p = sub.add_parser("study", help="Measure the RNN-vs-attention claims and write a report.",
                       description="Speed and memory against lookback, a long-range dependency "
                       "task with gradient norms, vic_elec accuracy against lookback and "
                       "attention maps; writes study.md with figures and logs a run.")
    p.add_argument("--config", help="study-quick (default, ~3 min) or study-full (~1 h), "
                   "or a YAML file")
    p.add_argument("--output", help="report folder (default: output_dir of the config)")
    p.add_argument("--no-tracking", action="store_true", help="write the report only")
    p.add_argument("--parts", nargs="+", metavar="PART",
                   help="run only these parts (speed, dependency, real, attention); the others "
                   "are read back from the output folder of an earlier run")
    p.set_defaults(func=cmd_study)
    p = sub.add_parser("serve", help="Run the BentoML prediction service (bentoml serve).",
                       description="Serve models:/$FORECAST_MODEL_NAME@$FORECAST_MODEL_ALIAS "
                       "over HTTP. Environment: MLFLOW_TRACKING_URI, FORECAST_MODEL_NAME, "
                       "FORECAST_MODEL_ALIAS, FORECAST_API_KEY.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser(
        "predict", help="Forecast a history file: in this process (--model) or through the "
        "service (--url).",
        description="With --model: load the model once and forecast every series of --data in "
        "batches, here; a series that fails a check is listed in the errors file with its "
        "reason and the others are forecast. Without it: send the file to the service at --url. "
        "Rows with y empty after a series' history carry its future covariates (or use "
        "--future). Exit status with --model: 0 every series forecast, 3 some refused (the "
        "others written), 4 none forecast, 2 an error before scoring.")
    p.add_argument("--model", help="models:/forecaster@champion (or any model URI), or a "
                   "model directory: score in this process")
    p.add_argument("--url", default="http://127.0.0.1:3000", help="the service (without --model)")
    p.add_argument("--data", required=True, help="CSV or Parquet, long (unique_id, ds, y) or "
                   "as trained from: --set data.layout=wide, --set data.columns.ds=COLUMN ...")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="how --data is laid "
                   "out, as in training: data.layout, data.columns.*, data.default_unique_id")
    p.add_argument("--future", help="with --model: CSV or Parquet of future covariates")
    p.add_argument("--horizon", type=int)
    p.add_argument("--output", help="forecast CSV or Parquet (required with --model)")
    p.add_argument("--errors", help="with --model: where refused series are listed "
                   "(default: <output>.errors.csv)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--batch-size", type=int, default=512, help="series per forward pass")
    p.add_argument("--log", action="store_true", help="with --model: record the forecasts in "
                   "the forecast log, scored when `forecast actuals` brings the truth")
    add_log_url(p)
    p.add_argument("--api-key", help="API key (default: $FORECAST_API_KEY)")
    p.set_defaults(func=cmd_predict)
    return parser


def end_distributed_worker(code: int) -> None:
    """A worker rank of a distributed run (Lightning's DDP) ends here, without the
    interpreter's teardown. Its work is done (rank 0 logs and registers), and that teardown can
    abort in native code ("terminate called without an active exception"); Lightning then
    kills rank 0 mid-logging with SIGKILL, leaving a half-logged run. Rank 0 exits normally."""
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return
    from forecast.training import is_global_zero  # loaded already: this process trained

    if is_global_zero():  # the rank that logs and registers, by the rule that decided it
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not verbose_requested(getattr(args, "verbose", False)):
        silence_libraries()
    code = run(args)
    end_distributed_worker(code)
    return code


def run(args: argparse.Namespace) -> int:
    """The command, its expected failures as a message and an exit code (no traceback)."""
    try:
        return args.func(args)
    except ForecastError as err:
        errors.print(f"[bold red]error:[/] {escape(redact(str(err)))}", highlight=False,
                     markup=True, soft_wrap=True)
        return 2
    except FileNotFoundError as err:
        errors.print(f"error: {redact(str(err))}", highlight=False, markup=False)
        return 2
    except Exception as err:
        from lightning.fabric.utilities.exceptions import MisconfigurationException

        if not isinstance(err, MisconfigurationException):
            raise
        # e.g. --devices beyond the GPUs there are: Lightning's own words, no traceback
        errors.print(f"error: {err}", highlight=False, markup=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        errors.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
