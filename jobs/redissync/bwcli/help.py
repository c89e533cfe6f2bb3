"""``bwcli plugin redissync help [command]``: BunkerWeb's bwcli answers ``--help`` itself, so this is how
the commands and their options are reached. The list comes from plugin.json's ``bwcli`` map."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ..settings import plugin_definition
from . import bans, check, sessions
from .usage import EXIT_OK, EXIT_USAGE, PROG, Parser, command_parser, full_help, parse

PARSERS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "check": check.build_parser, "bans": bans.build_parser, "sessions": sessions.build_parser,
}
FOOTER = ("Exit codes: 0 ok, 1 failure, 2 wrong usage. With LOG_LEVEL=DEBUG (bwcli -d), an unexpected error also\n"
          "prints its traceback, secrets masked. Outside BunkerWeb, run bwcli/<command>.py with the settings as\n"
          "environment variables.")


def build_parser() -> Parser:
    parser = command_parser("help", "the commands of redissync, or one command's options")
    parser.add_argument("topic", nargs="?", metavar="COMMAND", help="a command: " + ", ".join(commands()))
    PARSERS["help"] = lambda: parser
    return parser


def commands() -> list[str]:
    """The commands BunkerWeb knows (plugin.json), in its order."""
    return list(plugin_definition().get("bwcli", {}))


def overview() -> str:
    lines = [f"usage: {PROG} <command> [options]", "", "commands:"]
    for name in commands():
        build = PARSERS.get(name)
        summary = (build().description or "").split("\n")[0] if build else ""
        lines.append(f"  {name:<10} {summary}")
    lines += ["", f"'{PROG} help <command>' shows a command's options.", "", FOOTER]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parse(parser, argv)
    if args.topic is None:
        print(overview())
        return EXIT_OK
    build = PARSERS.get(args.topic)
    if build is None or args.topic not in commands():
        print(overview(), file=sys.stderr)
        print(f"\n{PROG} help: unknown command '{args.topic}'", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(full_help(build()))
    return EXIT_OK
