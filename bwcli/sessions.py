#!/usr/bin/env python3
"""bwcli plugin redissync sessions: how many users are logged in cluster-wide, and log them all out.

``stats [--json]`` counts live sessions per cookie and remaining lifetime (read only). ``revoke
[--cookie NAME] [--yes]`` is a dry run with a count unless ``--yes`` is given; then it UNLINKs the
chosen sessions in batches (after a leaked SESSIONS_SECRET or its rotation). Exit 0 ok, 1 failure.
"""
import argparse
import json
import sys
from pathlib import Path

JOBS_DIR = str(Path(__file__).resolve().parents[1] / "jobs")
if JOBS_DIR not in sys.path:
    sys.path.insert(0, JOBS_DIR)


from redissync.runner import run_command  # noqa: E402
from redissync.sessions import BUCKET_NAMES, revoke_sessions, session_stats  # noqa: E402


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bwcli plugin redissync sessions", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    stats = commands.add_parser("stats", help="count live sessions per cookie and remaining lifetime")
    stats.add_argument("--json", action="store_true", help="print the summary as JSON")
    revoke = commands.add_parser("revoke", help="log users out of the whole cluster (dry run without --yes)")
    revoke.add_argument("--cookie", metavar="NAME", help="only this session cookie (SESSIONS_NAME); default: every cookie")
    revoke.add_argument("--yes", action="store_true", help="really delete; without it, only count")
    return parser.parse_args(argv)


def print_stats(summary: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2, sort_keys=True))
        return
    print(summary["summary"])
    header = f"{'cookie':<24}{'live':>8}" + "".join(f"{name:>9}" for name in BUCKET_NAMES)
    print(header)
    rows = [*summary["cookies"].items(), ("(web UI)", summary["ui"])]
    for name, entry in rows:
        print(f"{name[:23]:<24}{entry['live']:>8}" + "".join(f"{entry['buckets'][b]:>9}" for b in BUCKET_NAMES))


def print_revoke(result, cookie: str | None) -> None:
    scope = f"cookie '{cookie}'" if cookie else "every cookie"
    if not result.applied:
        print(f"dry run: {result.matched} sessions of {scope} would be revoked; run again with --yes to revoke them")
    else:
        expired = result.matched - result.deleted
        print(f"revoked {result.deleted} sessions of {scope}" + (f" ({expired} had expired meanwhile)" if expired else ""))
    for name, count in result.per_cookie.most_common(10):
        print(f"  {name}: {count}")


def main(argv: list[str]) -> int:
    args = parse_args(argv)

    def work(settings, client) -> int:
        if args.command == "stats":
            print_stats(session_stats(client, settings.core_env), args.json)
        else:
            print_revoke(revoke_sessions(client, args.cookie, apply=args.yes), args.cookie)
        return 0

    return run_command("sessions", work)


sys.exit(main(sys.argv[1:]))
