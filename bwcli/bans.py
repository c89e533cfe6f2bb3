#!/usr/bin/env python3
"""bwcli plugin redissync bans: the ban journal — list it, export it, import a file back into Redis.

``list [--ip IP] [--service S] [--json]`` shows the live bans the journal holds (no Redis needed).
``export [--output FILE]`` writes them as JSON lines. ``import FILE`` restores a file into Redis with
SET NX and each ban's remaining TTL (a ban already there is kept): the migration path for BunkerWeb
#3311. ``forget --all [--yes]`` forgets the journal so that bans cleared with a deliberate FLUSHALL never
come back (without ``--yes``: a dry run saying what would be forgotten). Exit 0 ok, 1 failure.
"""
import argparse
import json
import sys
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parents[1]
JOBS_DIR = str(PLUGIN_DIR / "jobs")
if JOBS_DIR not in sys.path:
    sys.path.insert(0, JOBS_DIR)


from redissync.bans import now_ms  # noqa: E402
from redissync.bans.archive import open_journal as open_bans_journal  # noqa: E402
from redissync.bans.forget import PassRunning, count, forget_all  # noqa: E402
from redissync.bans.journal import Journal  # noqa: E402
from redissync.bans.transfer import export_lines, import_lines  # noqa: E402
from redissync.runner import run_command  # noqa: E402
from redissync.state import atomic_write, open_state  # noqa: E402

BANS_JOB = PLUGIN_DIR / "jobs" / "redissync-bans.py"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bwcli plugin redissync bans", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="live bans in the journal, newest first")
    listing.add_argument("--ip", help="only this IP")
    listing.add_argument("--service", help="only bans scoped to this service")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    export = commands.add_parser("export", help="the journal's live bans as JSON lines")
    export.add_argument("--output", metavar="FILE", help="write to FILE (atomically) instead of stdout")
    importing = commands.add_parser("import", help="restore a JSON-lines file into Redis (SET NX, remaining TTL)")
    importing.add_argument("file", metavar="FILE", help="JSON lines as written by export ('-' = stdin)")
    forget = commands.add_parser("forget", help="forget the journal, so bans cleared on purpose never come back")
    forget.add_argument("--all", action="store_true", required=True, help="every journaled ban (required)")
    forget.add_argument("--yes", action="store_true", help="really forget (without it: a dry run)")
    return parser.parse_args(argv)


def open_journal() -> Journal:
    return open_bans_journal(open_state(BANS_JOB), readonly=True)


def list_bans(args: argparse.Namespace) -> int:
    stamp = now_ms()
    with open_journal() as journal:
        entries = [entry.as_dict(stamp) for entry in journal.entries(args.ip, args.service, live_at_ms=stamp)]
    if args.json:
        print(json.dumps(entries, indent=2, sort_keys=True))
        return 0
    print(f"{len(entries)} live bans in the journal")
    for entry in entries:
        ttl = "permanent" if entry["permanent"] else f"{entry['ttl_ms'] // 1000} s left"
        where = f"service {entry['service']}" if entry["scope"] == "service" else (entry["scope"] or "?")
        flag = f"  [malformed: {entry['malformed']}]" if entry["malformed"] else ""
        print(f"{entry['ip'] or entry['key']:<40} {where:<28} {ttl:<16} {entry['reason'] or ''}{flag}")
    return 0


def export_bans(args: argparse.Namespace) -> int:
    with open_journal() as journal:
        lines = list(export_lines(journal))
    text = "".join(line + "\n" for line in lines)
    if args.output:
        atomic_write(Path(args.output), text.encode())
        print(f"exported {len(lines)} bans to {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def import_bans(args: argparse.Namespace) -> int:
    try:
        source = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8", errors="replace")  # noqa: SIM115
    except OSError as error:
        print(f"bans: cannot read {args.file}: {error.strerror}", file=sys.stderr)
        return 1

    def restore_file(_settings, client) -> int:
        with source:
            print(f"import: {import_lines(client, source).line()}")
        return 0

    return run_command("bans", restore_file)


def forget_bans(args: argparse.Namespace) -> int:
    state = open_state(BANS_JOB)
    if not args.yes:
        print(f"forget: {count(state).line()}")
        return 0

    def forget_journal(_settings, client) -> int:
        try:
            print(f"forget: {forget_all(client, state).line()}")
        except PassRunning as error:
            print(f"forget: {error}", file=sys.stderr)
            return 1
        return 0

    return run_command("bans", forget_journal)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        return {"list": list_bans, "export": export_bans, "import": import_bans, "forget": forget_bans}[args.command](args)
    except Exception as error:  # a message may carry data: only its type leaves the process
        print(f"bans failed with an unexpected {type(error).__name__}; run with LOG_LEVEL=DEBUG for details", file=sys.stderr)
        return 1


sys.exit(main(sys.argv[1:]))
