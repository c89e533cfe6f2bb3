"""Property tests over the settings: any environment → a valid Settings or one SettingsError that lists
exactly one line per bad setting, naming it; never another exception, never a hang.

Values mix valid forms, near-misses, unicode, control characters, huge strings and inputs built to make a
backtracking regex engine explode. An oracle written without the plugin.json regexes decides validity for
every setting with a simple grammar, and the easy cases of the host settings (the rest: either outcome, but
still one clear line). 500 examples run in the default suite, 10 000 in the slow one.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import shutil
import string
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from redissync.runner import EXIT_FAILED, run_job
from redissync.settings import Conflict, Settings, SettingsError, load_settings, redis_setting_definitions
from tests.reliability import figures

DATA = Path(__file__).resolve().parents[1] / "data" / "plugin-json" / "core" / "redis.json"
MARKER = "Fuzz-Secret-"  # every generated password starts with it: it must never be echoed
LOAD_BOUND_S = 0.5  # one load_settings call; a catastrophic backtrack takes seconds to forever
FAST_EXAMPLES, SLOW_EXAMPLES = 500, 10_000
NAMES = tuple(redis_setting_definitions())
JOB = "/plugins/redissync/jobs/redissync-fuzz.py"
DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "M": 2_592_000_000,
               "y": 31_536_000_000}
DURATION_SUFFIXES = ["", *DURATION_MS]

# -- value strategies -----------------------------------------------------------------------------------
ascii_digits = st.text(string.digits, min_size=1, max_size=12)
control = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.sampled_from("\x7f\x85\xa0\u2028\u2029\ufeff\u200b")
weird_text = st.text(st.characters(codec="utf-8") | control, max_size=40)
unicode_digits = st.sampled_from(["٣٣", "６３７９", "²", "१२", "𝟙"])


def huge(pieces: list[str]) -> st.SearchStrategy[str]:
    return st.builds(lambda piece, n: piece * n, st.sampled_from(pieces), st.integers(1_000, 200_000))


# Inputs shaped like the host grammars (labels, dots, hex groups, items) but failing at the very end.
ADVERSARIAL = st.builds(
    lambda piece, n, tail: piece * n + tail,
    st.sampled_from(["a-", "a.", "a" * 63 + ".", "1.", "0.", "1:", "::", "a:1 ", "[::1]:1 ", "1.2.3.4 ", "a_", "-", "9" * 9]),
    st.integers(1, 5_000),
    st.sampled_from(["!", "", " ", ".", "-", ":", "\n", "a" * 64, "[", "]"]),
)
JUNK = weird_text | huge(["a", "é", "\x00", " ", "9", "a.", "yes", "ü-"]) | ADVERSARIAL

label = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,20}[A-Za-z0-9]", fullmatch=True)
hostname = st.lists(label, min_size=1, max_size=4).map(".".join)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
port_text = st.integers(1, 65535).map(str)
sentinel_item = st.one_of(
    hostname, ipv4, st.builds(lambda h, p: f"{h}:{p}", hostname | ipv4, port_text),
    ipv6.map(lambda a: f"[{a}]"), st.builds(lambda a, p: f"[{a}]:{p}", ipv6, port_text),
)
secret = st.text(st.characters(codec="utf-8", exclude_characters="\n"), max_size=30).map(lambda t: MARKER + t)
no_space = st.text(st.characters(codec="utf-8", exclude_categories=("Zs", "Zl", "Zp", "Cc")), max_size=30)

VALID: dict[str, st.SearchStrategy[str]] = {
    "USE_REDIS": st.sampled_from(["yes", "no"]),
    "REDIS_SSL": st.sampled_from(["yes", "no"]),
    "REDIS_SSL_VERIFY": st.sampled_from(["yes", "no"]),
    "REDIS_HOST": st.one_of(st.just(""), hostname, ipv4, ipv6),
    "REDIS_PORT": port_text,
    "REDIS_DATABASE": st.integers(0, 15).map(str),
    "REDIS_TIMEOUT": st.builds(lambda n, unit: f"{n}{unit}", st.integers(1, 999_999), st.sampled_from(DURATION_SUFFIXES)),
    "REDIS_USERNAME": no_space,
    "REDIS_PASSWORD": secret,
    "REDIS_SENTINEL_HOSTS": st.lists(sentinel_item, max_size=4).map(" ".join),
    "REDIS_SENTINEL_USERNAME": no_space,
    "REDIS_SENTINEL_PASSWORD": secret,
    "REDIS_SENTINEL_MASTER": st.one_of(st.just(""), no_space.filter(bool)),
    "REDIS_CLUSTER_NODES": st.one_of(st.just(""), st.just(" "), st.lists(sentinel_item, min_size=1, max_size=4).map(" ".join)),
    "REDIS_KEEPALIVE_IDLE": st.builds(lambda n, unit: f"{n}{unit}", st.integers(0, 999_999), st.sampled_from(DURATION_SUFFIXES)),
    "REDIS_KEEPALIVE_POOL": st.integers(1, 999_999).map(str),
}
NEAR_MISS: dict[str, st.SearchStrategy[str]] = {
    "USE_REDIS": st.sampled_from(["Yes", "YES", "true", "1", "on", "yes\n", " yes", "no ", "y", ""]),
    "REDIS_PORT": st.sampled_from(["0", "65536", "99999", "0080", " 6379", "6379\n", "+1", "-1", "6_379", "6379.0", "1e3", ""])
    | unicode_digits | ascii_digits,
    "REDIS_DATABASE": st.sampled_from(["16", "01", "-0", "1.0", " 1", "0x1", ""]) | unicode_digits | ascii_digits,
    "REDIS_TIMEOUT": st.sampled_from(["0", "0.0", "000.000", ".5", "1.", "1e3", "nan", "inf", "-1", "1.1234567", "1234567890",
                                      "0s", "1.5s", "1h30m", "1S", "1sec", "1 s", "s", "31710y", "999999999999999y",
                                      "1,5", "0.5s", " 1", ""]) | unicode_digits | ascii_digits,
    "REDIS_KEEPALIVE_IDLE": st.sampled_from(["-1", "1.5", "1234567890", " 0", "", "1.5s", "2m30s", "1ms ", "M", "31710y",
                                             "٣s"]) | unicode_digits | ascii_digits,
    "REDIS_KEEPALIVE_POOL": st.sampled_from(["0", "00", "01", "1234567", "-3", ""]) | unicode_digits | ascii_digits,
    "REDIS_HOST": st.sampled_from(["redis://h", "h:6379", "a..b", "-a", "a-", "256.1.1.1", "1.2.3", "::g", "[::1]", "h/", "a b",
                                   "h\n", "a" * 64, "1.2.3.04", "unix:/run/redis.sock"]),
    "REDIS_SENTINEL_HOSTS": st.sampled_from(["h:0", "h:65536", "h,h2", "h  h2", "::1:26379", "[::1", "h:", "h:p", "a..b:1"]),
    "REDIS_CLUSTER_NODES": st.sampled_from(["n:0", "n:65536", "n,n2", "n  n2", "::1:7000", "[::1", "n:", "redis://n", "a..b:1"]),
    "REDIS_USERNAME": st.sampled_from(["a b", "a\tb", "a\nb", "a\u00a0b", "\u2003"]),
    "REDIS_SENTINEL_USERNAME": st.sampled_from(["a b", "\x0b", "x\u2028"]),
    "REDIS_SENTINEL_MASTER": st.sampled_from(["my master", "m\n", "\t", " ", "m\u3000"]),
    "REDIS_PASSWORD": secret.map(lambda s: s + "\n" + s),
    "REDIS_SENTINEL_PASSWORD": secret.map(lambda s: s + "\nx"),
    "REDIS_SSL": st.sampled_from(["", "Y", "tls"]),
    "REDIS_SSL_VERIFY": st.sampled_from(["", "N", "false"]),
}


def bad_value_for(name: str) -> st.SearchStrategy[str]:
    """A near-miss or junk; passwords keep the marker so a leak is detectable."""
    junk = JUNK.map(lambda t: MARKER + t) if "PASSWORD" in name else JUNK
    return st.one_of(NEAR_MISS[name], junk)


@st.composite
def environments(draw: st.DrawFn) -> dict[str, str]:
    """A plausible configuration (each setting absent or valid), then 0-3 settings spoiled: most
    environments are valid or have one or two bad settings, the way real mistakes look."""
    mode = draw(st.sampled_from(["standalone", "sentinel", "cluster", "disabled", "anything"]))
    env = {name: value for name in NAMES if (value := draw(st.none() | VALID[name])) is not None}
    if mode == "standalone":
        env.update(USE_REDIS="yes", REDIS_HOST=draw(st.one_of(hostname, ipv4, ipv6)))
        env.pop("REDIS_SENTINEL_HOSTS", None)
    elif mode == "sentinel":
        env.update(USE_REDIS="yes", REDIS_SENTINEL_HOSTS=draw(st.lists(sentinel_item, min_size=1, max_size=4).map(" ".join)))
    elif mode == "cluster":
        env.update(USE_REDIS="yes", REDIS_CLUSTER_NODES=draw(st.lists(sentinel_item, min_size=1, max_size=4).map(" ".join)))
        env.pop("REDIS_SENTINEL_HOSTS", None)
        env.pop("REDIS_DATABASE", None)
    elif mode == "disabled":
        env["USE_REDIS"] = "no"
    for name in draw(st.lists(st.sampled_from(NAMES), max_size=3, unique=True)):
        env[name] = draw(bad_value_for(name))
    return env


# -- the oracle (no regexes: a second, independent reading of plugin.json's help texts) ------------------
def _digits(value: str, low: int, high: int) -> bool:
    return value.isascii() and value.isdigit() and low <= len(value) <= high


def _no_space(value: str) -> bool:
    return not any(char.isspace() for char in value)


def _duration_ok(value: str, minimum_ms: int, bare_ms: int) -> bool:
    """BunkerWeb's duration form, written without a regex: digits, then nothing or one unit; 999999999 s at most."""
    number = value.rstrip(string.ascii_letters)
    unit = value[len(number):]
    if not _digits(number, 1, len(number)) or (unit and unit not in DURATION_MS):
        return False
    significant = number.lstrip("0")
    return len(significant) <= 13 and minimum_ms <= int(significant or "0") * DURATION_MS.get(unit, bare_ms) <= 999_999_999_000


SIMPLE = {
    "USE_REDIS": lambda v: v in ("yes", "no"),
    "REDIS_SSL": lambda v: v in ("yes", "no"),
    "REDIS_SSL_VERIFY": lambda v: v in ("yes", "no"),
    "REDIS_PORT": lambda v: _digits(v, 1, 5) and v[0] != "0" and 1 <= int(v) <= 65535,
    "REDIS_DATABASE": lambda v: _digits(v, 1, 2) and str(int(v)) == v and int(v) <= 15,
    "REDIS_USERNAME": _no_space,
    "REDIS_SENTINEL_USERNAME": _no_space,
    "REDIS_PASSWORD": lambda v: "\n" not in v,
    "REDIS_SENTINEL_PASSWORD": lambda v: "\n" not in v,
    "REDIS_SENTINEL_MASTER": lambda v: not v.strip() or _no_space(v),
    "REDIS_KEEPALIVE_POOL": lambda v: _digits(v, 1, 6) and v[0] != "0",
}
HOST_CHARS = set(string.ascii_letters + string.digits + "_.-:")


def _hostname(value: str) -> bool:
    """The generator's own hostname form: letter first, alphanumeric last, 2-63 characters per label."""
    allowed = set(string.ascii_letters + string.digits + "_-")
    return all(2 <= len(part) <= 63 and part[0].isascii() and part[0].isalpha() and part[-1].isascii() and part[-1].isalnum()
               and set(part) <= allowed for part in value.split("."))


def _ipv6(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return "." not in value and "%" not in value


def host_verdict(value: str) -> bool | None:
    """True/False when obvious, None when only the full grammar can tell."""
    if value == "" or _ipv4_strict(value) or _hostname(value) or _ipv6(value):
        return True
    return False if not set(value) <= HOST_CHARS else None


def _sentinel_item(item: str) -> bool | None:
    host, port = item, ""
    if item.startswith("["):
        address, bracket, rest = item[1:].partition("]")
        if not bracket or not _ipv6(address) or (rest and not rest.startswith(":")):
            return None
        port = rest[1:] if rest else ""
        if rest and not port:
            return None
    else:
        if item.count(":") > 1:
            return None
        host, _, port = item.partition(":")
        if not (_ipv4_strict(host) or _hostname(host)) or (":" in item and not port):
            return None
    return True if not port or SIMPLE["REDIS_PORT"](port) else None


def sentinel_verdict(value: str) -> bool | None:
    value = value.strip()
    if value == "":
        return True
    if not set(value) <= HOST_CHARS | {"[", "]", " "} or "  " in value:
        return False
    verdicts = [_sentinel_item(item) for item in value.split(" ")]
    return True if all(verdicts) else None


def _ipv4_strict(value: str) -> bool:
    parts = value.split(".")
    return len(parts) == 4 and all(_digits(p, 1, 3) and str(int(p)) == p and int(p) <= 255 for p in parts)


def expected_bad(env: Mapping[str, str]) -> tuple[set[str], set[str]]:
    """(settings that must be reported, settings the oracle cannot decide)."""
    raw = {name: env.get(name, redis_setting_definitions()[name]["default"]) for name in NAMES}
    bad = {name for name, ok in SIMPLE.items() if not ok(raw[name])}
    bare_ms = 1000 if env.get("REDISSYNC_BW_CORE_DIR", "absent").endswith("absent") else 1  # core's unit: ms
    bad |= {name for name, minimum in (("REDIS_TIMEOUT", 1), ("REDIS_KEEPALIVE_IDLE", 0))
            if not _duration_ok(raw[name], minimum, bare_ms)}
    undecided: set[str] = set()
    for name, verdict in (("REDIS_HOST", host_verdict(raw["REDIS_HOST"])),
                          ("REDIS_SENTINEL_HOSTS", sentinel_verdict(raw["REDIS_SENTINEL_HOSTS"])),
                          ("REDIS_CLUSTER_NODES", sentinel_verdict(raw["REDIS_CLUSTER_NODES"]))):  # the same list form
        if verdict is None:
            undecided.add(name)
        elif not verdict:
            bad.add(name)
    lists = ("REDIS_SENTINEL_HOSTS", "REDIS_CLUSTER_NODES")
    if raw["USE_REDIS"] == "yes" and raw["REDIS_HOST"] == "" and not any(raw[name].strip() for name in lists):
        bad.add("REDIS_HOST")
    if raw["USE_REDIS"] == "yes" and raw["REDIS_HOST"] == "" and undecided & set(lists):
        undecided.add("REDIS_HOST")  # the cross-field rule depends on whether the lists parse
    # Cluster mode's refused pairs (BunkerWeb's rediskeys.lua), judged on values valid on their own.
    cluster = raw["REDIS_CLUSTER_NODES"].strip()
    if cluster and "REDIS_CLUSTER_NODES" not in bad:
        pairs = [("REDIS_SENTINEL_HOSTS", bool(raw["REDIS_SENTINEL_HOSTS"].strip())), ("REDIS_DATABASE", raw["REDIS_DATABASE"] != "0")]
        for name, clashes in pairs:
            if clashes and name not in bad:
                (undecided if "REDIS_CLUSTER_NODES" in undecided or name in undecided else bad).add(name)
    return bad, undecided


# -- the property -----------------------------------------------------------------------------------------
class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def check_valid(settings: Settings, env: Mapping[str, str]) -> None:
    assert 1 <= settings.port <= 65535
    assert 0 <= settings.database <= 15
    assert settings.timeout > 0
    assert settings.timeout_ms >= 1
    assert settings.keepalive_pool >= 1
    assert settings.keepalive_idle >= 0
    assert all(1 <= address.port <= 65535 and address.host for address in (*settings.sentinels, *settings.cluster_nodes))
    assert not (settings.cluster_nodes and (settings.sentinels or settings.database))
    assert not settings.enabled or settings.host or settings.sentinels or settings.cluster_nodes
    assert " " not in settings.sentinel_master
    assert settings.sentinel_master
    shown = repr(settings) + str(settings.public()) + settings.target() + " ".join((*settings.notices, *settings.warnings))
    assert MARKER not in shown


def check_error(error: SettingsError, env: Mapping[str, str]) -> None:
    names = [problem.setting for problem in error.problems]
    assert len(names) == len(set(names)), f"a setting reported twice: {names}"
    text = str(error)
    assert len(text.splitlines()) == len(names), "one line per bad setting"
    for line, problem in zip(text.splitlines(), error.problems, strict=True):
        if isinstance(problem, Conflict):  # a refused pair: BunkerWeb's sentence, naming both settings
            assert line.startswith("REDIS_CLUSTER_NODES ")
            assert problem.setting in line
        else:
            assert line.startswith(f"{problem.setting}=")
            assert "expected" in line
    assert MARKER not in text
    bad, undecided = expected_bad(env)
    assert bad <= set(names), f"missed {bad - set(names)}"
    assert set(names) <= bad | undecided, f"wrongly refused {set(names) - bad - undecided}"
    # The job runner turns the same error into exactly one log line per problem, exit 2.
    collector = _Collect()
    job_logger = logging.getLogger("REDISSYNC-FUZZ")
    job_logger.addHandler(collector)
    try:
        assert run_job(JOB, lambda *a: "never", env=env) == EXIT_FAILED
    finally:
        job_logger.removeHandler(collector)
    errors = [r.getMessage() for r in collector.records if r.levelno >= logging.ERROR]
    assert len(errors) == len(names)
    assert all(any(name in line for name in names) for line in errors)
    assert MARKER not in "\n".join(r.getMessage() for r in collector.records)


def note(text: str) -> None:
    """A hypothesis statistics event (ignored outside a hypothesis test)."""
    with contextlib.suppress(InvalidArgument):
        event(text)


def load_and_check(env: dict[str, str]) -> None:
    figures.record("fuzz_cases")
    figures.record("fuzz_tracebacks", 0)
    started = time.monotonic()
    try:
        settings = load_settings(env)
    except SettingsError as error:
        assert time.monotonic() - started < LOAD_BOUND_S, "load_settings too slow (regex backtracking?)"
        check_error(error, env)
        note(f"refused, {min(len(error.problems), 3)}+ problems")
        return
    except Exception:
        figures.record("fuzz_tracebacks")
        raise
    assert time.monotonic() - started < LOAD_BOUND_S, "load_settings too slow (regex backtracking?)"
    bad, _ = expected_bad(env)
    assert not bad, f"accepted although {bad} are invalid"
    check_valid(settings, env)
    note(f"valid, enabled={settings.enabled}, mode={settings.mode}")


@pytest.fixture(scope="module")
def core_dir() -> Iterator[Path]:
    """BunkerWeb's core redis plugin installed: defaults and units change, validation must not."""
    directory = Path(tempfile.mkdtemp(prefix="redissync-core-"))
    (directory / "redis").mkdir()
    shutil.copy(DATA, directory / "redis" / "plugin.json")
    yield directory
    shutil.rmtree(directory)


COMMON = {
    "deadline": 2000,  # ms per example, generation included: huge values take a moment to build
    "database": None,  # never write .hypothesis/ into the working tree
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture,
                              HealthCheck.large_base_example],
}


def fuzz(env: dict[str, str], with_core: bool, core_dir: Path) -> None:
    env = {**env, "REDISSYNC_BW_CORE_DIR": str(core_dir if with_core else core_dir / "absent")}
    load_and_check(env)


@hypothesis_settings(max_examples=FAST_EXAMPLES, **COMMON)
@given(env=environments(), with_core=st.booleans())
def test_settings_fuzz(env: dict[str, str], with_core: bool, core_dir: Path) -> None:
    fuzz(env, with_core, core_dir)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # 10,000 environments: at load 30 on 2 cores, 5,015 took the default 300 s
@hypothesis_settings(max_examples=SLOW_EXAMPLES, **COMMON)
@given(env=environments(), with_core=st.booleans())
def test_settings_fuzz_10k(env: dict[str, str], with_core: bool, core_dir: Path) -> None:
    fuzz(env, with_core, core_dir)


@pytest.mark.parametrize("value", ["a-" * 5000 + "!", ("a" * 63 + ".") * 2000 + "-", "1." * 20000, "a:1 " * 20000 + "a:",
                                   "[::1]:1 " * 10000 + "[", "1:" * 50000])
@pytest.mark.parametrize("name", ["REDIS_HOST", "REDIS_SENTINEL_HOSTS"])
def test_backtracking_shapes_finish_fast(name: str, value: str) -> None:
    load_and_check({"USE_REDIS": "yes", name: value})
