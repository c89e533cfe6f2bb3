"""``help`` and wrong arguments: BunkerWeb's bwcli keeps ``--help`` for itself (docs/bunkerweb-data.md §bwcli), so the
commands' options are reached through ``bwcli plugin redissync help [command]`` and printed in full on a
wrong argument (exit 2)."""

from __future__ import annotations

import json

import pytest

from harness.jobrun import ROOT, run_bwcli

BWCLI = json.loads((ROOT / "plugin.json").read_text())["bwcli"]
ENV = {"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1"}


def test_help_is_registered_with_bunkerweb() -> None:
    assert BWCLI["help"] == "help.py"
    assert all((ROOT / "bwcli" / file).is_file() for file in BWCLI.values())


def test_help_lists_every_command(capsys) -> None:
    assert run_bwcli("help.py", ENV, []) == 0
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in out.split("commands:\n")[1].split("\n\n")[0].splitlines()]
    assert listed == list(BWCLI)
    assert "bwcli plugin redissync help <command>" in out
    assert "LOG_LEVEL=DEBUG" in out
    assert "2 wrong usage" in out


@pytest.mark.parametrize("command", list(BWCLI))
def test_help_of_each_command_exits_0(command, capsys) -> None:
    assert run_bwcli("help.py", ENV, [command]) == 0
    assert f"usage: bwcli plugin redissync {command}" in capsys.readouterr().out


def test_help_of_bans_shows_every_subcommand_and_option(capsys) -> None:
    assert run_bwcli("help.py", ENV, ["bans"]) == 0
    out = capsys.readouterr().out
    for text in ("bans list", "--json", "bans export", "--output FILE", "bans import", "--skip-invalid", "exit codes"):
        assert text in out, text


def test_help_of_an_unknown_command_exits_2(capsys) -> None:
    assert run_bwcli("help.py", ENV, ["nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'nope'" in err
    assert "commands:" in err


@pytest.mark.parametrize(("file", "argv", "usage"), [
    ("bans.py", ["list", "--bogus"], "usage: bwcli plugin redissync bans list"),
    ("bans.py", [], "usage: bwcli plugin redissync bans"),
    ("bans.py", ["purge"], "usage: bwcli plugin redissync bans"),
    ("bans.py", ["import"], "usage: bwcli plugin redissync bans import"),
    ("sessions.py", ["revoke", "--cookie"], "usage: bwcli plugin redissync sessions revoke"),
    ("check.py", ["--verbose"], "usage: bwcli plugin redissync check"),
])
def test_a_wrong_argument_prints_the_usage_and_exits_2(file, argv, usage, capsys) -> None:
    assert run_bwcli(file, ENV, argv) == 2
    captured = capsys.readouterr()
    command = file.removesuffix(".py")
    assert captured.out == ""
    assert usage in captured.err
    assert "options:" in captured.err
    assert captured.err.rstrip().endswith(f"(see: bwcli plugin redissync help {command})")
