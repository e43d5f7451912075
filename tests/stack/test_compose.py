"""docker-compose.yml is valid Compose and consistent with the code (no Docker engine needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from pipelines.cli import build_parser
from tests.stack.compose import COMPOSE, ENV_EXAMPLE, load_compose, read_env_file, variables_used

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
LONG_RUNNING = ("postgres", "minio", "mlflow", "service")


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


def test_matches_the_compose_specification_schema():
    schema = json.loads((HERE / "compose_spec.json").read_text())
    jsonschema.Draft201909Validator(schema).validate(load_compose(raw=True))


def test_every_variable_is_in_env_example_or_defaulted():
    env = read_env_file()
    for name, op in variables_used(COMPOSE.read_text()).items():
        assert name in env or op in (":-", "-"), f"${{{name}}} has no default and no .env entry"
    load_compose(read_env_file())  # every required (:?) variable resolves


def test_depends_on_targets_exist_and_order_the_stack(compose):
    services = compose["services"]
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown service {target}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck"
    assert services["mlflow"]["depends_on"]["create-bucket"]["condition"] == \
        "service_completed_successfully"
    assert services["trainer"]["depends_on"]["mlflow"]["condition"] == "service_healthy"
    for name in ("service", "monitor", "retrain"):  # the forecast log's database exists first
        assert services[name]["depends_on"]["create-log-db"]["condition"] == \
            "service_completed_successfully"
        assert services[name]["environment"]["FORECAST_LOG_URL"].startswith(
            "postgresql+psycopg://")


def test_long_running_services_have_healthchecks_and_restart(compose):
    for name in LONG_RUNNING:
        service = compose["services"][name]
        assert service["healthcheck"]["test"], name
        assert service["restart"] == "unless-stopped", name


def test_images_are_pinned(compose):
    for name, service in compose["services"].items():
        image = service.get("image")
        assert image, f"{name} has no image"
        assert ":" in image and not image.endswith(":latest"), f"{name}: unpinned {image}"


def test_only_service_and_mlflow_publish_ports(compose):
    published = {name for name, s in compose["services"].items() if s.get("ports")}
    assert published == {"service", "mlflow"}


def test_named_volumes_are_declared(compose):
    declared = set(compose["volumes"])
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"volume {source} is not declared"


def test_forecast_commands_exist(compose):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name in ("trainer", "service", "monitor", "retrain"):
        command = compose["services"][name]["command"]
        assert command[0] in commands, f"{name} runs unknown command {command[0]}"
        parser.parse_args(command)  # every flag it passes is accepted


def _env_reads(text: str) -> dict[str, bool]:
    """Environment variables the code reads, and whether it copes with their absence."""
    found = {}
    for m in re.finditer(r'os\.environ\.get\("([A-Z_]+)"', text):
        found[m[1]] = True  # .get() never fails; the code falls back
    for m in re.finditer(r'_int\("([A-Z_]+)",', text):
        found[m[1]] = True
    for m in re.finditer(r'os\.environ\["([A-Z_]+)"\]', text):
        found.setdefault(m[1], False)
    return found


def test_every_variable_the_code_reads_is_set_or_defaulted(compose):
    reads: dict[str, bool] = {}
    for package in ("forecast", "pipelines", "service"):
        for path in (ROOT / package).rglob("*.py"):
            for name, defaulted in _env_reads(path.read_text()).items():
                reads[name] = reads.get(name, False) or defaulted
    assert "FORECAST_MODEL_NAME" in reads and "MLFLOW_TRACKING_URI" in reads
    for container in ("trainer", "service", "monitor", "retrain"):
        env = compose["services"][container]["environment"]
        # its fallback, a sqlite file in the working directory, is wrong inside a container
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
        for name, defaulted in reads.items():
            if name.startswith(("FORECAST_", "MLFLOW_TRACKING")) and not defaulted:
                assert name in env, f"{container} lacks {name}, which the code needs"


def test_env_example_documents_every_secret():
    env = read_env_file(ENV_EXAMPLE)
    for key in ("POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "FORECAST_API_KEY"):
        assert key in env


@pytest.mark.parametrize("secret", ["FORECAST_API_KEY", "MLFLOW_ADMIN_USERNAME",
                                    "MLFLOW_ADMIN_PASSWORD", "MLFLOW_SECRET_KEY"])
def test_published_services_refuse_to_start_without_credentials(secret):
    with pytest.raises(KeyError, match=secret):
        load_compose({**read_env_file(), secret: ""})


def test_mlflow_is_behind_basic_auth_and_named_hosts(compose):
    command = compose["services"]["mlflow"]["command"]
    assert command[command.index("--app-name") + 1] == "basic-auth"
    hosts = command[command.index("--allowed-hosts") + 1].split(",")
    assert "*" not in hosts and "mlflow" in hosts
    for client in ("trainer", "service"):
        env = compose["services"][client]["environment"]
        assert env["MLFLOW_TRACKING_USERNAME"] and env["MLFLOW_TRACKING_PASSWORD"]
