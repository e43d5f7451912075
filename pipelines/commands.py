"""The `forecast` commands: each `cmd_*` takes the parsed arguments and returns an exit code."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from forecast import load_config
from forecast.errors import ForecastError

from .presets import config_path
from .redaction import redact

# `forecast predict --model` exit codes a scheduler can act on (documented in the README)
EXIT_SOME_REFUSED = 3  # forecasts written for the others; the refused are in the errors file
EXIT_NOTHING_FORECAST = 4  # every series refused: nothing to use

# a terminal gets its own width; a log or pipe (Rich's default there is 80) gets room for the
# widest table, which otherwise folds its cells
LOG_WIDTH = 160
console = Console(width=None if sys.stdout.isatty() else LOG_WIDTH)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else LOG_WIDTH)


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


def _prepare(config):
    """Check the data and resolve the settings it decides, before any MLflow store or run is
    touched; print what was resolved and which series were left out."""
    import warnings

    from forecast.datamodule import SeriesRefusedWarning, prepare

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeriesRefusedWarning)  # listed below instead
        config, prepared = prepare(config)
    progress(resolution_line(config, prepared))
    for note in prepared.notes:
        progress(f"[data] {note}")
    for reason in list(prepared.refused.values())[:10]:
        errors.print(f"[yellow]warning:[/] left out {escape(reason)}", soft_wrap=True)
    if len(prepared.refused) > 10:
        errors.print(f"[yellow]warning:[/] {len(prepared.refused) - 10} more series left out")
    return config, prepared


def resolution_line(config, prepared) -> str:
    source = config.data.path or "vic_elec (demo data, its preset)"
    n = len(prepared.panel.series)
    return (f"[data] {source}: {n} series; {prepared.task.summary()}"
            if prepared.task else f"[data] {source}: {n} series")


def _print_metrics_table(title: str, rows: list[dict], columns: list[str]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")  # narrow terminals and logs wrap, never cut
    for row in rows:
        table.add_row(*[f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c])
                        for c in columns])
    console.print(table)


def _print_test_metrics(name: str, metrics: dict[str, float]) -> None:
    _print_metrics_table(f"{name}: test metrics",
                         [{"metric": k, "value": v} for k, v in metrics.items()],
                         ["metric", "value"])


def cmd_train(args: argparse.Namespace) -> int:
    if getattr(args, "init_from", None):
        return _continue_training(args, args.init_from)
    from .train import run_train

    config = _load(args, [f"model.name={args.model}"] if args.model else None)
    config, prepared = _prepare(config)
    result = run_train(config, prepared=prepared)
    if result is None:  # a worker process of a distributed run; rank 0 reports
        return 0
    _print_test_metrics(config.model.name, result.metrics)
    console.print(f"run {result.run_id} logged; bundle kept at {result.bundle}")
    return 0


def _continue_training(args: argparse.Namespace, init_uri: str) -> int:
    """Training from a registered version's weights and configuration on newer data."""
    from .retrain import continued_config, load_init, run_continue
    from .tracking import connect

    connect()  # the registry holds the starting point
    init = load_init(init_uri)
    overrides = list(args.set or []) + ([f"model.name={args.model}"]
                                        if getattr(args, "model", None) else [])
    config, prepared = _prepare(continued_config(init, args.data, overrides))
    progress(f"[train] continuing from {init_uri} ({init.name}), "
             f"{config.trainer.max_epochs} epochs at most")
    result = run_continue(config, prepared, init, init_uri)
    _print_test_metrics(f"{result.name} (continued)", result.metrics)
    d = result.decision
    console.print(f"run {result.run_id} logged; registered {config.tracking.registered_model} "
                  f"v{d.version}; {'promoted to' if d.promoted else 'did not take'} "
                  f"'{config.tracking.alias}': {d.reason}", soft_wrap=True)
    return 0


def cmd_retrain(args: argparse.Namespace) -> int:
    """Continued training of the champion when its live status says so (or always)."""
    from forecast.monitoring import StatusRule

    from .retrain import champion_status, should_retrain

    config = _load(args)
    status, reasons, version = champion_status(config, args.window_days, StatusRule.from_env(),
                                               args.log_url)
    name = config.tracking.registered_model
    progress(f"[retrain] {name} v{version} ({config.tracking.alias}): {status}"
             + (f" ({'; '.join(reasons)})" if reasons else ""))
    if not should_retrain(args.when, status):
        progress(f"[retrain] nothing to do: retraining happens when the status is "
                 f"{args.when}")
        return 0
    return _continue_training(args, f"models:/{name}/{version}")


def cmd_actuals(args: argparse.Namespace) -> int:
    from .monitoring import run_actuals

    result = run_actuals(_load(args).data, args.log_url)  # the file's shape as trained
    console.print(f"{result.received} actuals stored ({result.matched} target logged "
                  f"forecasts, {result.unmatched} no forecast yet)", markup=False)
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    from forecast.monitoring import StatusRule

    from .monitoring import run_monitor

    config = _load(args)
    rule = StatusRule.from_env()
    reports = run_monitor(config, args.window_days, rule, args.log_url,
                          log_runs=not args.no_mlflow)
    if not reports:
        console.print(f"no logged forecasts of '{config.tracking.registered_model}' yet: the "
                      "service logs every forecast it answers", markup=False)
        return 0
    rows = []
    for report, run_id in reports:
        live = report.scores.overall
        drifted = int(report.drift["drifted"].sum()) if len(report.drift) else 0
        rows.append({"version": report.version, "alias": report.alias or "-",
                     "status": report.status, "points": int(live.get("n", 0)),
                     "live MAE": live.get("mae", float("nan")),
                     "test MAE": report.test_mae if report.test_mae is not None
                     else float("nan"),
                     "coverage 80%": live.get("coverage_80", float("nan")),
                     "drifted series": drifted, "MLflow run": run_id or "-"})
    _print_metrics_table(f"live scores over the last {args.window_days:g} days of origins "
                         f"({rule.describe()})", rows, list(rows[0]))
    for report, _ in reports:
        for reason in report.reasons:
            console.print(f"v{report.version}: {reason}", markup=False)
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    """What the file holds and the config it would train with; that config as YAML with
    --output, which `--config` accepts. Exit 2 when the data cannot train as it is."""
    import yaml

    from forecast.data.inspection import inspect_frame
    from forecast.data.loading import load_frame

    config = _load(args)
    report = inspect_frame(load_frame(config.data))
    progress(f"{args.data}:")
    for line in report.summary_lines():
        progress(f"  {line}")
    for problem in report.problems:
        errors.print(f"[yellow]problem:[/] {escape(problem)}", soft_wrap=True)
    config, prepared = _prepare(config)
    text = yaml.safe_dump(config.model_dump(), sort_keys=False)
    covariates = [c for c, kind in report.covariate_candidates.items() if kind != "static"]
    header = (f"# Config for {args.data}, written by `forecast inspect`; train with\n"
              f"#   forecast train --config <this file>\n"
              + (f"# Columns that could be covariates (none is used unless named): "
                 f"{', '.join(covariates)}; e.g. data.past_covariates: [{covariates[0]}]\n"
                 if covariates else ""))
    if args.output:
        Path(args.output).write_text(header + text)
        console.print(f"config written to {args.output}", markup=False, highlight=False)
    else:
        progress("config it would train with:")
        progress(header + text)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import run_compare

    config, prepared = _prepare(_load(args))
    result = run_compare(config, progress=progress, prepared=prepared)
    if result is None:  # a worker process of a distributed run; rank 0 reports
        return 0
    # the terminal shows the deciding figures; comparison.md in MLflow holds every column
    shown = [c for c in ("model", "mae", "mase", "coverage_80", "coverage_90",
                         "served_coverage_80", "wql", "backtest_mae") if c in result.table.columns]
    _print_metrics_table("comparison on the test window", result.table.to_dict("records"),
                         shown)
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
    for flag in ("trials", "storage", "study", "objective"):
        if getattr(args, flag) is not None:
            extra.append(f"tune.{flag}={getattr(args, flag)}")
    config, prepared = _prepare(_load(args, extra))
    result = run_tune(config, Path(args.output) if args.output else None, progress=progress,
                      register=args.register, prepared=prepared)
    console.print(f"study '{result.study}': {result.trials} trials; best {config.tune.objective} "
                  f"{result.best_value:.4f} (trial {result.best_trial}); config written to "
                  f"{result.best_config.resolve()}; MLflow parent run {result.parent_run_id}",
                  soft_wrap=True, markup=False)
    if args.register and not result.registers:
        console.print(f"trial {result.best_trial} is registered by another worker of the study",
                      markup=False)
    elif args.register:
        return cmd_compare(argparse.Namespace(config=str(result.best_config), data=args.data,
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
    if args.model:
        return _predict_in_process(args)
    import os

    from .client import build_request, call_service, response_frame, served_covariates
    from .history_file import file_settings, read_history

    covariates = served_covariates(args.url)
    frame = read_history(Path(args.data), file_settings(args.set), covariates)
    body = build_request(frame, args.horizon, explain=False, covariates=covariates)
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


def _predict_in_process(args: argparse.Namespace) -> int:
    from .batch_predict import BatchPaths, run_batch_predict
    from .history_file import file_settings

    if not args.output:
        raise ForecastError("--output is required with --model (a CSV or Parquet path)")
    paths = BatchPaths.of(args.data, args.output, args.errors, args.future)
    result = run_batch_predict(args.model, paths, args.horizon, args.overwrite, args.batch_size,
                               log=args.log, log_url=args.log_url,
                               settings=file_settings(args.set))
    scored = result.n_series - len(result.errors)
    console.print(f"{scored} of {result.n_series} series forecast: {len(result.forecasts)} rows "
                  f"written to {paths.output}")
    if result.errors:
        console.print(f"[yellow]{len(result.errors)} series refused, each with its reason, in "
                      f"{paths.errors}[/yellow]")
        first = result.errors[0]
        errors.print(f"first refusal: {first.unique_id}: {first.reason}", markup=False,
                     highlight=False, soft_wrap=True)
    if scored == 0:
        return EXIT_NOTHING_FORECAST
    return EXIT_SOME_REFUSED if result.errors else 0
