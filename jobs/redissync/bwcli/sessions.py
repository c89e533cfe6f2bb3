"""``bwcli plugin redissync sessions``: how many users are logged in cluster-wide, and log them all out.

``stats`` counts live sessions per cookie and remaining lifetime (read only). ``revoke`` is a dry run with
a count unless ``--yes`` is given; then it UNLINKs the chosen sessions in batches (after a leaked
SESSIONS_SECRET or its rotation), with a progress line on a terminal.
"""

from __future__ import annotations

import json
from typing import Any

from redis import Redis

from ..runner import run_command
from ..sessions import BUCKET_NAMES, RevokeResult, revoke_sessions, session_stats
from ..settings import Settings
from .output import Progress, plural, table
from .usage import EXIT_OK, Parser, command_parser, guarded, parse

DESCRIPTION = ("how many users are logged in cluster-wide, and log them all out\n\n"
               "exit codes: 0 ok, 1 failure, 2 wrong usage")


def build_parser() -> Parser:
    parser = command_parser("sessions", DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{stats,revoke}")
    stats = commands.add_parser("stats", help="count live sessions per cookie and remaining lifetime",
                                description="Count live sessions per cookie and remaining lifetime (read only).")
    stats.add_argument("--json", action="store_true", help="print the summary as JSON")
    revoke = commands.add_parser("revoke", help="log users out of the whole cluster (dry run without --yes)",
                                 description="Log users out of the whole cluster: a dry run that counts, unless --yes.")
    revoke.add_argument("--cookie", metavar="NAME", help="only this session cookie (SESSIONS_NAME); default: every cookie")
    revoke.add_argument("--yes", action="store_true", help="really delete; without it, only count")
    return parser


def main(argv: list[str]) -> int:
    args = parse(build_parser(), argv)

    def work(settings: Settings, client: Redis) -> int:
        if args.command == "stats":
            print_stats(session_stats(client, settings.core_env), args.json)
            return EXIT_OK
        label = "revoking sessions" if args.yes else "counting sessions"
        with Progress(label) as progress:
            result = revoke_sessions(client, args.cookie, apply=args.yes,
                                     progress=lambda partial: progress.update(partial.matched))
        print_revoke(result, args.cookie)
        return EXIT_OK

    return guarded("sessions", lambda: run_command("sessions", work))


def print_stats(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2, sort_keys=True))
        return
    print(summary["summary"])
    rows = [*summary["cookies"].items(), ("(web UI)", summary["ui"])]
    body = [[name[:40], str(entry["live"]), *(str(entry["buckets"][bucket]) for bucket in BUCKET_NAMES)] for name, entry in rows]
    for line in table(["COOKIE", "LIVE", *(name.upper() for name in BUCKET_NAMES)], body):
        print(line)


def print_revoke(result: RevokeResult, cookie: str | None) -> None:
    scope = f"cookie '{cookie}'" if cookie else "every cookie"
    if not result.applied:
        print(f"dry run: {plural(result.matched, 'session')} of {scope} would be revoked; run again with --yes to revoke them")
    else:
        expired = result.matched - result.deleted
        print(f"revoked {plural(result.deleted, 'session')} of {scope}" + (f" ({expired} had expired meanwhile)" if expired else ""))
    for name, count in result.per_cookie.most_common(10):
        print(f"  {name}: {count}")
