"""Arguments and failures the same way for every command.

BunkerWeb's bwcli keeps ``--help`` for itself, so a wrong argument prints the command's *full* usage (not
argparse's one-line summary) and points at ``bwcli plugin redissync help <command>``; exit 2. An
unexpected exception is one line naming its type (its message may carry data); with LOG_LEVEL=DEBUG the
traceback follows on stderr with every secret masked.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from ..logs import configure_cli_logging, debug_traceback

PROG = "bwcli plugin redissync"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
LOGGER = logging.getLogger("redissync.bwcli")


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors show the full help of the (sub)command that was wrong."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_help(sys.stderr)
        command = self.prog.removeprefix(PROG).split()
        hint = f"{PROG} help {command[0]}" if command else f"{PROG} help"
        self.exit(EXIT_USAGE, f"\n{self.prog}: error: {message} (see: {hint})\n")


def command_parser(command: str, description: str) -> Parser:
    return Parser(prog=f"{PROG} {command}", description=description,
                  formatter_class=argparse.RawDescriptionHelpFormatter)


def parse(parser: Parser, argv: Sequence[str]) -> argparse.Namespace:
    """Parse; an unknown option is reported by the subcommand it was given to, with that one's usage."""
    args, extra = parser.parse_known_args(list(argv))
    if extra:
        subparser = subcommands(parser).get(getattr(args, "command", None) or "", parser)
        subparser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse has no public accessor for its subparsers
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def full_help(parser: argparse.ArgumentParser) -> str:
    """The command's help followed by each subcommand's, options included."""
    parts = [parser.format_help()]
    parts += [sub.format_help() for sub in subcommands(parser).values()]
    return "\n\n".join(part.rstrip() for part in parts) + "\n"


def guarded(name: str, run: Callable[[], int]) -> int:
    """Run a command body: logging from LOG_LEVEL, an unexpected error as one line (+ masked traceback)."""
    configure_cli_logging()
    try:
        return run()
    except Exception as error:  # a message may carry data: only its type leaves, details at DEBUG
        print(f"{name} failed with an unexpected {type(error).__name__}; run with LOG_LEVEL=DEBUG for details",
              file=sys.stderr)
        debug_traceback(LOGGER, f"{name} failed")
        return EXIT_FAILED
