"""Secret masking: whole values only, so a short secret never mangles ordinary text."""

from __future__ import annotations

from harness.servers import free_port
from redissync.diagnose import diagnose
from redissync.redaction import MASK, mask_value, redact


def test_a_one_character_secret_leaves_an_address_alone() -> None:
    assert redact("cannot reach server 127.0.0.1:1 (connection refused)", ["1"]) == \
        "cannot reach server 127.0.0.1:1 (connection refused)"


def test_whole_values_are_masked_wherever_they_stand() -> None:
    assert redact("AUTH s3cret", ["s3cret"]) == f"AUTH {MASK}"
    assert redact("password 's3cret' refused", ["s3cret"]) == f"password '{MASK}' refused"
    assert redact('{"password": "s3cret"}', ["s3cret"]) == f'{{"password": "{MASK}"}}'
    assert redact("REDIS_PASSWORD=s3cret", ["s3cret"]) == f"REDIS_PASSWORD={MASK}"
    assert redact("it was s3cret.", ["s3cret"]) == f"it was {MASK}."
    assert redact("s3cret: wrong", ["s3cret"]) == f"{MASK}: wrong"
    assert redact("dsn postgresql://bw:s3cret@db", ["s3cret"]) == f"dsn postgresql://bw:{MASK}@db"


def test_substrings_of_other_words_stay() -> None:
    assert redact("redis-server 7.4.1 on redishost", ["redis"]) == "redis-server 7.4.1 on redishost"
    assert redact("s3cret2 and xs3cret", ["s3cret"]) == "s3cret2 and xs3cret"
    assert redact("redis.internal answered", ["redis"]) == "redis.internal answered"


def test_addresses_and_numbers_stay() -> None:
    for text in ("127.0.0.1:1", "[::1]:6379", "fe80::1", "redis 7.4.1", "host:1 refused", "at 12:01"):
        assert redact(text, ["1"]) == text


def test_the_longest_secret_wins_and_empty_secrets_are_ignored() -> None:
    assert redact("ab a", ["a", "ab", ""]) == f"{MASK} {MASK}"
    assert redact("nothing to hide", []) == "nothing to hide"


def test_setting_values_in_problem_reports() -> None:
    assert mask_value(True, "anything") == MASK
    assert mask_value(False, "x" * 100) == "x" * 77 + "..."


def test_diagnosis_with_a_one_character_password_keeps_the_address_readable() -> None:
    """The issue's case: REDIS_PASSWORD=1 once turned 127.0.0.1:<port> into ********27.0.0.********:…"""
    port = free_port()
    report = diagnose({"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port), "REDIS_PASSWORD": "1"})
    assert f"127.0.0.1:{port}" in report.failure.sentence
    assert MASK not in report.render_text()
