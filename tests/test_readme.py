"""The README stays true to the code: every `tradegw …` command it shows exists, with the options it names."""

from __future__ import annotations

import re

import typer

from gateway.cli import app
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _command(path: list[str]) -> object:
    command: object = typer.main.get_command(app)
    for name in path:
        commands = getattr(command, "commands", None)  # a group (typer vendors its own click)
        assert isinstance(commands, dict), f"`tradegw {' '.join(path)}`: {name} is not under a command group"
        command = commands.get(name)
        assert command is not None, f"README shows `tradegw {' '.join(path)}`, which the CLI does not have"
    return command


def test_every_command_the_readme_shows_exists_with_its_options() -> None:
    shown = re.findall(r"`tradegw ([a-z]+(?: [a-z]+)*)((?: [^`|]*)?)`", README)
    assert len(shown) >= 10
    for words, rest in shown:
        path = words.split()
        groups = ("db", "clients", "partners", "keys", "audit")
        command = _command(path[:2] if len(path) > 1 and path[0] in groups else path[:1])
        options = {o for p in getattr(command, "params", []) for o in getattr(p, "opts", [])}
        for option in re.findall(r"(--[a-z][a-z-]*)", rest):
            assert option in options, f"README shows `{option}` for `tradegw {words}`"


def test_the_quick_start_is_the_two_make_targets() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "make run" in README
    assert "make test" in README
    assert "\nrun:" in makefile
    assert "\ntest:" in makefile
