"""The `forecast` command: train, compare, models, promote, log-run, serve, predict."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from forecast import load_config
from forecast.errors import ForecastError
from forecast.models import families

from .presets import config_path
from .redaction import redact

console = Console()
errors = Console(stderr=True)


def progress(message: str) -> None:
    """Progress lines like '[compare] training lstm', printed literally (not as Rich markup)."""
    console.print(message, markup=False, highlight=False, soft_wrap=True)


def _load(args: argparse.Namespace, extra: list[str] | None = None):
    overrides = list(args.set or []) + list(extra or [])
    if getattr(args, "data", None):
        overrides.append(f"data.path={args.data}")
    for flag, key in (("devices", "devices"), ("strategy", "strategy"),
                      ("num_nodes", "num_nodes")):
        if getattr(args, flag, None) is not None:
            overrides.append(f"trainer.{key}={getattr(args, flag)}")
    return load_config(config_path(args.config), overrides)


def _print_metrics_table(title: str, rows: list[dict], columns: list[str]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*[f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c])
                        for c in columns])
    console.print(table)


def cmd_train(args: argparse.Namespace) -> int:
    from .train import run_train

    config = _load(args, [f"model.name={args.model}"] if args.model else None)
    result = run_train(config)
    if result is None:  # a worker process of a distributed run; rank 0 reports
        return 0
    _print_metrics_table(f"{config.model.name}: test metrics", [result.metrics],
                         list(result.metrics))
    console.print(f"run {result.run_id} logged; bundle kept at {result.bundle}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import run_compare

    config = _load(args)
    result = run_compare(config, progress=progress)
    if result is None:  # a worker process of a distributed run; rank 0 reports
        return 0
    _print_metrics_table("comparison on the test window", result.table.to_dict("records"),
                         list(result.table.columns))
    d = result.decision
    console.print(f"best: {result.best_model}; registered "
                  f"{config.tracking.registered_model} v{d.version}; "
                  f"{'promoted to' if d.promoted else 'did not take'} "
                  f"'{config.tracking.alias}': {d.reason}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .registry import list_versions
    from .tracking import connect

    config = _load(args)
    rows = list_versions(connect(), config.tracking.registered_model)
    if not rows:
        console.print(f"no versions of '{config.tracking.registered_model}' yet; "
                      "run `forecast compare`")
        return 0
    _print_metrics_table(config.tracking.registered_model, rows, list(rows[0]))
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from .registry import set_alias
    from .tracking import connect

    config = _load(args)
    set_alias(connect(), config.tracking.registered_model, config.tracking.alias,
              str(args.version), decision="promoted_by_hand")
    console.print(f"'{config.tracking.alias}' now points to "
                  f"{config.tracking.registered_model} v{args.version}")
    return 0


def cmd_log_run(args: argparse.Namespace) -> int:
    from .train import run_log_bundle

    given = any(o.startswith("tracking.experiment=") for o in args.set or [])
    experiment = _load(args).tracking.experiment if given else None
    directory = Path(args.directory).resolve()
    run_id = run_log_bundle(directory, experiment)
    console.print(f"logged {directory} as run {run_id}", soft_wrap=True, markup=False)
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from .study import PARTS, load_study_settings, log_study, run_study, write_report

    path = config_path(args.config, default="study-quick")
    settings = load_study_settings(path)
    if args.output:
        settings = settings.model_copy(update={"output_dir": args.output})
    if not args.no_tracking:  # fail fast on an unreachable server, before the hour of work
        from .tracking import connect

        connect()
    parts = tuple(args.parts or PARTS)
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ForecastError(f"unknown study part(s) {unknown}; valid: {list(PARTS)}")
    result = run_study(settings, progress=progress, parts=parts,
                       saved=Path(settings.output_dir))
    note = f"Preset `{path.stem}`, produced by `forecast study --config {args.config or path.stem}`."
    if set(parts) != set(PARTS):
        note += (f" Parts {', '.join(parts)} were re-run with `--parts`; the others are read "
                 "back from the previous run in the same folder.")
    report = write_report(result, Path(settings.output_dir), note)
    console.print(f"report: {report}")
    if not args.no_tracking:
        console.print(f"logged as MLflow run {log_study(result, settings)}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from .tune import run_tune

    extra = [f"model.name={args.model}"]
    for flag in ("trials", "storage", "study"):
        if getattr(args, flag) is not None:
            extra.append(f"tune.{flag}={getattr(args, flag)}")
    config = _load(args, extra)
    result = run_tune(config, Path(args.output) if args.output else None, progress=progress)
    console.print(f"study '{result.study}': {result.trials} trials; best val_loss "
                  f"{result.best_value:.4f} (trial {result.best_trial}); config written to "
                  f"{result.best_config.resolve()}; MLflow parent run {result.parent_run_id}",
                  soft_wrap=True, markup=False)
    if args.register:
        return cmd_compare(argparse.Namespace(config=str(result.best_config), data=None,
                                              set=[f"models=[{args.model}]"]))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run `bentoml serve` on the service; same environment variables."""
    import os
    import shutil

    bentoml = shutil.which("bentoml") or str(Path(sys.executable).with_name("bentoml"))
    command = [bentoml, "serve", "service.service:Forecaster", "--host", args.host,
               "--port", str(args.port)]
    console.print(f"serving on http://{args.host}:{args.port} (tracking: "
                  f"{redact(os.environ.get('MLFLOW_TRACKING_URI', 'sqlite:///mlflow.db'))})")
    if "MLFLOW_TRACKING_URI" not in os.environ:
        from .tracking import tracking_uri

        os.environ["MLFLOW_TRACKING_URI"] = tracking_uri()
    os.execv(command[0], command)
    return 0  # not reached


def cmd_predict(args: argparse.Namespace) -> int:
    import os

    from .client import build_request, call_service, read_request_frame, response_frame

    frame = read_request_frame(Path(args.data))
    body = build_request(frame, args.horizon, explain=False)
    payload = call_service(args.url, body, args.api_key or os.environ.get("FORECAST_API_KEY"))
    result = response_frame(payload)
    model = payload["model"]
    if args.output:
        result.to_csv(args.output, index=False)
        console.print(f"{len(result)} rows from {model['name']} v{model['version']} "
                      f"({model['architecture']}) written to {args.output}")
    else:
        console.print(f"{model['name']} v{model['version']} ({model['architecture']})")
        console.print(result.to_string(index=False))
    return 0


def add_distributed(p: argparse.ArgumentParser) -> None:
    """Lightning's own distributed training: only rank 0 writes, logs and registers."""
    group = p.add_argument_group("distributed training (Lightning strategies)")
    group.add_argument("--devices", help="processes per machine on CPU, GPUs per machine "
                       "(trainer.devices)")
    group.add_argument("--strategy", help="ddp (gloo on CPU, NCCL on GPUs), or any Lightning "
                       "strategy (trainer.strategy)")
    group.add_argument("--num-nodes", type=int, help="machines taking part (trainer.num_nodes)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forecast",
        description="Train, compare and serve LSTM, GRU and Transformer forecasters. Runs are "
        "tracked in MLflow (MLFLOW_TRACKING_URI, default: ./mlflow.db).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

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
    add_distributed(p)
    p = add("compare", "Train every model and baseline on the same split, backtest them, log a "
            "parent run with a comparison table and register the best; 'champion' moves only "
            "if it beats the current champion on the same test window.", cmd_compare)
    p.add_argument("--data", help="CSV or Parquet file in long format (default: vic_elec)")
    add_distributed(p)
    add("models", "List registered versions with their aliases and scores.", cmd_models)
    p = add("promote", "Move the champion alias to a version by hand.", cmd_promote)
    p.add_argument("--version", required=True, type=int, help="registered version number")
    p = add("log-run", "Log a run bundle kept on disk after a tracking failure, to the "
            "experiment it was trained for (or --set tracking.experiment=NAME); runs the failed "
            "attempt left RUNNING are marked FAILED.", cmd_log_run)
    p.add_argument("directory", help="bundle directory printed by the failed command")
    tunable = [f.name for f in families() if f.search_space is not None]
    p = add("tune", "Tune a model family with Optuna: trials shared through a database by any "
            "number of workers, each trial a nested MLflow run, the best config written as "
            "YAML for `forecast train --config`.", cmd_tune)
    p.add_argument("--model", required=True, choices=tunable, help="family to tune")
    p.add_argument("--trials", type=int, help="trials in the study in all, across workers "
                   "(tune.trials, default 20)")
    p.add_argument("--storage", help="Optuna storage URL (tune.storage, default "
                   "sqlite:///optuna.db: fine for workers on one machine; use PostgreSQL, e.g. "
                   "postgresql+psycopg://user:pw@host/db, for several machines)")
    p.add_argument("--study", help="study name (default tune-<model>); workers with the same "
                   "storage and name share it")
    p.add_argument("--output", help="where to write the best config (default "
                   "tuned-<model>.yaml)")
    p.add_argument("--register", action="store_true", help="then train the best config and "
                   "register it through the usual champion gating")
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
    p = sub.add_parser("predict", help="Send a long-format CSV to the service, print the forecast.",
                       description="Rows with y empty after a series' history carry its future "
                       "covariates for the forecast steps.")
    p.add_argument("--url", default="http://127.0.0.1:3000")
    p.add_argument("--data", required=True, help="CSV or Parquet in long format")
    p.add_argument("--horizon", type=int)
    p.add_argument("--output", help="write the forecast CSV here instead of printing it")
    p.add_argument("--api-key", help="API key (default: $FORECAST_API_KEY)")
    p.set_defaults(func=cmd_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
