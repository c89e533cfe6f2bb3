"""``bwcli plugin redissync bans``: the ban journal — list it, export it, import a file back into Redis,
forget it.

``list`` shows the live bans the journal holds (no Redis needed), ``export`` writes them as JSON lines,
``import FILE`` restores a file into Redis with SET NX and each ban's remaining TTL (a ban already there
is kept), under the current mode's key names: the migration path for BunkerWeb #3311. An import checks the
whole file first: with an invalid line nothing is written and the exit is 1, unless ``--skip-invalid``.
``forget --all [--yes]`` forgets the journal so that bans cleared with a deliberate FLUSHALL never come back;
``forget --ip IP [--yes]`` lifts one IP's bans on every master and forgets them (without ``--yes``: a dry run).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from redis import Redis

from ..bans import now_ms
from ..bans.archive import open_journal
from ..bans.entry import Entry
from ..bans.forget import Forgotten, ForgottenIP, count, forget_all, forget_ip
from ..bans.summary import SUMMARY_NAME
from ..bans.transfer import export_lines, import_entries, read_import
from ..errors import PassRunning
from ..human import duration
from ..net import normalize_ip
from ..runner import run_command
from ..settings import Settings
from ..state import PLUGIN_ROOT, StateStore, atomic_write, open_state
from .output import Progress, plural, table
from .usage import EXIT_FAILED, EXIT_OK, Parser, command_parser, guarded, parse

BANS_JOB = PLUGIN_ROOT / "jobs" / "redissync-bans.py"
NEVER_RUN = "the bans job has never run, so the journal is empty: redissync-bans runs every minute on the scheduler"
PLAIN_NOTE = "plain: BunkerWeb's own plain-text value (badbehavior's first write), a normal ban"
DESCRIPTION = ("the ban journal: list it, export it, import a file back into Redis, forget it\n\n"
               "exit codes: 0 ok, 1 failure (or invalid lines in an import), 2 wrong usage")


def build_parser() -> Parser:
    parser = command_parser("bans", DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{list,export,import,forget}")
    listing = commands.add_parser("list", help="live bans in the journal, newest first",
                                  description="Live bans in the journal, newest first (reads no Redis).")
    listing.add_argument("--ip", help="only this IP")
    listing.add_argument("--service", help="only bans scoped to this service")
    listing.add_argument("--json", action="store_true", help="print a JSON array (for scripts)")
    export = commands.add_parser("export", help="the journal's live bans as JSON lines",
                                 description="The journal's live bans as JSON lines, the form import reads.")
    export.add_argument("--output", metavar="FILE", help="write to FILE (atomically) instead of stdout")
    importing = commands.add_parser(
        "import", help="restore a JSON-lines file into Redis (SET NX, remaining TTL)",
        description="Restore a JSON-lines file into Redis (SET NX, remaining TTL). The whole file is checked first: "
                    "with any invalid line nothing is written and the exit code is 1, unless --skip-invalid.")
    importing.add_argument("file", metavar="FILE", help="JSON lines as written by export ('-' = stdin)")
    importing.add_argument("--skip-invalid", action="store_true", help="import the valid lines even if some are invalid")
    forget = commands.add_parser(
        "forget", help="forget the journal (or one IP's bans), so bans cleared on purpose never come back",
        description="Forget the journal, so that bans cleared with a deliberate FLUSHALL never come back; or lift and "
                    "forget one IP's bans everywhere. Without --yes: a dry run saying what would be forgotten.")
    which = forget.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every journaled ban")
    which.add_argument("--ip", type=ip_argument, help="every ban of this IP: lifted in Redis (every scope, every "
                       "master of a cluster) with its bad-behaviour counters, and dropped from the journal")
    forget.add_argument("--yes", action="store_true", help="really forget (without it: a dry run)")
    return parser


def main(argv: list[str]) -> int:
    args = parse(build_parser(), argv)
    run = {"list": list_bans, "export": export_bans, "import": import_bans, "forget": forget_bans}[args.command]
    return guarded("bans", lambda: run(args))


# -- list -------------------------------------------------------------------------------------------
def bans_state() -> StateStore:
    return open_state(BANS_JOB)


def kind(entry: Entry) -> str:
    if entry.malformed:
        return "malformed"
    return "json" if entry.value.lstrip()[:1] == b"{" else "plain"


def stored_value(entry: Entry) -> dict[str, Any]:
    """The ban's JSON value (country, the service that triggered it…), or {} for another kind."""
    if kind(entry) != "json":
        return {}
    try:
        value = json.loads(entry.value)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def ban_row(entry: Entry, stamp: int) -> dict[str, Any]:
    """``Entry.as_dict`` plus what people ask about a ban: its kind, country and triggering service."""
    value = stored_value(entry)
    row = entry.as_dict(stamp)
    row["kind"] = kind(entry)
    row["country"] = value.get("country") if isinstance(value.get("country"), str) else None
    triggered = value.get("service") if isinstance(value.get("service"), str) else None
    row["triggered_by"] = entry.service if entry.scope == "service" else triggered
    return row


def list_bans(args: argparse.Namespace) -> int:
    state = bans_state()
    stamp = now_ms()
    with open_journal(state, readonly=True) as journal:
        rows = [ban_row(entry, stamp) for entry in journal.entries(args.ip, args.service, live_at_ms=stamp)]
    never_run = not rows and state.read_json(SUMMARY_NAME) is None
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True))
        if never_run:
            print(f"bans: {NEVER_RUN}", file=sys.stderr)
        return EXIT_OK
    if never_run:
        print(NEVER_RUN)
        return EXIT_OK
    for line in list_lines(rows, filtered=bool(args.ip or args.service)):
        print(line)
    return EXIT_OK


def list_lines(rows: list[dict[str, Any]], filtered: bool) -> list[str]:
    plain, malformed = (sum(1 for row in rows if row["kind"] == name) for name in ("plain", "malformed"))
    odd = [*([f"{plain} with a plain-text value"] if plain else []), *([f"{malformed} malformed"] if malformed else [])]
    head = plural(len(rows), "live ban") + (" matching" if filtered else "") + " in the journal"
    lines = [head + (f" ({', '.join(odd)})" if odd else "")]
    if not rows:
        return lines
    show_kind = any(row["kind"] != "json" for row in rows)
    headers = ["IP", "SCOPE", "SERVICE", "COUNTRY", "REASON", "EXPIRES IN", *(["KIND"] if show_kind else [])]
    body = []
    for row in rows:
        service = row["triggered_by"] or "-"
        if row["scope"] == "global" and row["triggered_by"]:
            service = f"(from {service})"
        expires = "permanent" if row["permanent"] else duration(row["ttl_ms"] / 1000)
        cells = [row["ip"] or row["key"], row["scope"] or "?", service, row["country"] or "-", row["reason"] or "-", expires]
        if show_kind:
            cells.append(row["kind"] if row["kind"] != "malformed" else f"malformed: {row['malformed']}")
        body.append(cells)
    return lines + table(headers, body) + ([PLAIN_NOTE] if plain else [])


# -- export / import --------------------------------------------------------------------------------
def export_bans(args: argparse.Namespace) -> int:
    with open_journal(bans_state(), readonly=True) as journal:
        lines = list(export_lines(journal))
    text = "".join(line + "\n" for line in lines)
    if args.output:
        atomic_write(Path(args.output), text.encode())
        print(f"exported {plural(len(lines), 'ban')} to {args.output}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def import_bans(args: argparse.Namespace) -> int:
    try:
        lines = read_source(args.file)
    except OSError as error:
        print(f"bans: cannot read {args.file}: {error.strerror}", file=sys.stderr)
        return EXIT_FAILED
    with Progress("checking lines", len(lines)) as progress:
        checked = read_import(counted(lines, progress))
    for line in checked.error_lines():
        print(f"bans import: {line}", file=sys.stderr)
    if checked.invalid and not args.skip_invalid:
        print(f"bans import: {plural(checked.invalid, 'invalid line')} of {checked.lines}: nothing was imported; "
              "fix the file, or pass --skip-invalid to import the valid lines", file=sys.stderr)
        return EXIT_FAILED

    def restore(_settings: Settings, client: Redis) -> int:
        with Progress("restoring bans", len(checked.entries)) as progress:
            result = import_entries(client, checked, progress.update)
        print(f"import: {result.line()}")
        return EXIT_OK

    return run_command("bans", restore)


def read_source(name: str) -> list[str]:
    """Every line of the file (or stdin): checked in full before anything is written."""
    if name == "-":
        return sys.stdin.readlines()
    with open(name, encoding="utf-8", errors="replace") as source:
        return source.readlines()


def counted(lines: Iterable[str], progress: Progress) -> Iterable[str]:
    for number, line in enumerate(lines, 1):
        progress.update(number)
        yield line


# -- forget ------------------------------------------------------------------------------------------
def ip_argument(text: str) -> str:
    ip = normalize_ip(text)
    if ip is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IPv4 or IPv6 address")
    return ip


def forget_bans(args: argparse.Namespace) -> int:
    state = bans_state()
    if args.ip:
        return run_command("bans", lambda settings, client: forget_one(settings, client, state, args.ip, args.yes))
    if not args.yes:
        print(f"forget: {count(state).line()}")
        return EXIT_OK

    # one erase of the journal's files: nothing long enough for a progress line
    return run_command("bans", lambda _settings, client: said(lambda: forget_all(client, state)))


def forget_one(settings: Settings, client: Redis, state: StateStore, ip: str, apply: bool) -> int:
    return said(lambda: forget_ip(client, state, ip, apply, counters=settings.unban_clears_bad_behavior))


def said(forget: Callable[[], Forgotten | ForgottenIP]) -> int:
    """A forget's line on stdout; a running pass's refusal on stderr, failed."""
    try:
        forgotten = forget()
    except PassRunning as error:
        print(f"forget: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"forget: {forgotten.line()}")
    return EXIT_OK
