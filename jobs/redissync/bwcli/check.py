"""``bwcli plugin redissync check [--json]``: the step-by-step Redis diagnosis, for people and health checks."""

from __future__ import annotations

import os
import sys

from ..diagnose import diagnose
from ..diagnose.capacity import instance_count
from ..state import open_state
from .usage import EXIT_FAILED, EXIT_OK, Parser, command_parser, guarded, parse

DESCRIPTION = ("walk the Redis connection step by step and say what is wrong\n\n"
               "exit codes: 0 healthy (warnings only) or disabled, 1 a step failed, 2 wrong usage")


def build_parser() -> Parser:
    parser = command_parser("check", DESCRIPTION)
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of text")
    return parser


def main(argv: list[str]) -> int:
    args = parse(build_parser(), argv)

    def run() -> int:
        report = diagnose(instances=instance_count(open_state().bunkerweb_db))
        if args.json:
            print(report.to_json())
        else:
            print(report.render_text(colour=sys.stdout.isatty() and not os.environ.get("NO_COLOR")))
        return EXIT_OK if report.healthy else EXIT_FAILED

    return guarded("check", run)
