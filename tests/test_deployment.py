"""The deployment files say what the code does: every command in docker-compose.yml and the Dockerfile is a
`tradegw` command with options it has, every GATEWAY_ variable and secret file is a setting, and the image runs as
a non-root user. (No Docker engine runs here; these checks are what can be proven without one.)"""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest
import typer.main
import yaml

from gateway.cli import app
from gateway.settings import Settings
from tests.conftest import ROOT

COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
GATEWAY_SERVICES = {
    name: s for name, s in COMPOSE["services"].items() if s.get("image", "").startswith("trade-gateway")
}
SETTINGS = {f"GATEWAY_{name.upper()}" for name in Settings.model_fields} | {"GATEWAY_SECRETS_DIR"}


def parse_command(arguments: list[str]) -> Any:
    """Resolve ``arguments`` against the CLI the way `tradegw` would, without running anything (the click context
    of the command reached; an unknown command or option raises)."""
    command: Any = typer.main.get_command(app)
    context = command.make_context("tradegw", [], resilient_parsing=True)
    # Typer ships its own copy of click: a group is whatever has subcommands.
    while hasattr(command, "commands"):
        assert arguments, "a command group needs a subcommand"
        name, arguments = arguments[0], arguments[1:]
        sub = command.get_command(context, name)
        assert sub is not None, f"tradegw has no command {name!r}"
        # A group's own context takes no arguments here; the command at the end parses (and checks) the rest.
        rest = [] if hasattr(sub, "commands") else arguments
        context = sub.make_context(name, rest, parent=context, resilient_parsing=hasattr(sub, "commands"))
        command = sub
    return context


def test_there_are_replicas_workers_and_a_migration_job() -> None:
    commands = [tuple(s["command"][:1]) for s in GATEWAY_SERVICES.values()]
    assert commands.count(("serve",)) >= 2
    assert commands.count(("worker",)) >= 2
    assert commands.count(("db",)) == 1
    assert "postgres" in COMPOSE["services"]


@pytest.mark.parametrize("service", sorted(GATEWAY_SERVICES))
def test_each_service_runs_a_real_command_with_real_options(service: str) -> None:
    context = parse_command(list(GATEWAY_SERVICES[service]["command"]))
    assert context.command.name in {"serve", "worker", "upgrade"}
    if context.command.name == "serve":
        assert context.params["no_delivery"] is True, "replicas leave the background work to the workers"


@pytest.mark.parametrize("service", sorted(GATEWAY_SERVICES))
def test_each_environment_name_and_secret_is_a_setting(service: str) -> None:
    environment = GATEWAY_SERVICES[service]["environment"]
    unknown = {name for name in environment if name.startswith("GATEWAY_")} - SETTINGS
    assert not unknown, f"{service}: not settings: {unknown}"
    for secret in GATEWAY_SERVICES[service].get("secrets", []):
        assert secret in Settings.model_fields, f"{service}: secret file {secret!r} is not a setting"
    assert environment["GATEWAY_ENV"] == "production"


def test_the_connection_budget_fits_postgres_defaults() -> None:
    per_process = [
        int(s["environment"]["GATEWAY_DB_POOL_SIZE"]) + int(s["environment"]["GATEWAY_DB_MAX_OVERFLOW"])
        for s in GATEWAY_SERVICES.values()
        if s["command"][0] in ("serve", "worker")
    ]
    assert sum(per_process) + 1 <= 100, "replicas x pool <= max_connections (DEPLOYMENT.md)"


def test_the_image_runs_as_a_non_root_user_and_its_default_command_is_a_replica() -> None:
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE, re.MULTILINE)
    assert users, "the image sets a USER"
    assert users[-1] not in ("root", "0")
    entrypoint = re.search(r"^ENTRYPOINT\s+(\[.*\])", DOCKERFILE, re.MULTILINE)
    default = re.search(r"^CMD\s+(\[.*\])", DOCKERFILE, re.MULTILINE)
    assert entrypoint is not None
    assert yaml.safe_load(entrypoint.group(1)) == ["tradegw"]
    assert default is not None
    assert parse_command(yaml.safe_load(default.group(1))).command.name == "serve"
    for name in re.findall(r"\b(GATEWAY_[A-Z_]+)=", DOCKERFILE):
        assert name in SETTINGS, f"Dockerfile sets {name}, which is not a setting"


def test_workers_may_write_the_keys_directory_and_replicas_may_not() -> None:
    for name, service in GATEWAY_SERVICES.items():
        mounts = [shlex.split(volume.replace(":", " "))[1:] for volume in service.get("volumes", [])]
        keys = [m for m in mounts if m and m[0] == service["environment"]["GATEWAY_KEYS_DIR"]]
        if service["command"][0] == "worker":
            assert keys, f"{name}: no keys directory"
            assert "ro" not in keys[0], f"{name}: the audit signer writes its state beside its key"
        elif service["command"][0] == "serve":
            assert keys, f"{name}: no keys directory"
            assert keys[0][-1] == "ro", f"{name}: replicas only read keys"
