"""Metrics hygiene: find the ``metrics:*`` keys that live forever, and bound only those nobody writes.

Why bounding is safe (docs/bunkerweb-data.md §metrics, ``metrics.lua``): every 5 s each live nginx worker rewrites *every*
metrics key it holds, ``SET`` for counters and ``DEL`` + ``RPUSH`` for tables. Both clear any TTL. So a
TTL we put on a key can only ever expire a key that no worker writes any more (a restarted worker's
old id, a removed instance): the data BunkerWeb still uses is re-armed to "no TTL" within seconds.

A key is *stale* when it has no TTL and its content has not changed for ``stale_after`` passes (one
pass a minute). Stale keys get a long TTL (:data:`STALE_KEY_TTL_S`), set by a script only if the key
still has no TTL. When a key we bounded shows "no TTL" again, its writer is alive: it is reported as
*revived* and its count starts over. Fingerprints live in our namespace (one hash, rebuilt each pass
so vanished keys drop out, with a TTL), never in BunkerWeb's keys.

The ``requests`` list and its ``requests:facet:*`` hashes are reported, never touched: BunkerWeb trims
the list itself and keeps the facet counts in step with it, so trimming it here would corrupt them.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from redis import Redis

from ..keys import FINGERPRINTS_KEY, FINGERPRINTS_NEXT_KEY, requests_key
from ..keyspace import expire_if_persistent, is_cluster

FINGERPRINTS_TTL_S = 24 * 3600
STALE_AFTER_PASSES = 60  # one hour of identical content with no TTL (the job runs every minute)
STALE_KEY_TTL_S = 7 * 24 * 3600  # a silent worker's keys go a week after we notice them

def fingerprint(parts: list[bytes]) -> str:
    if len(parts) == 1:  # a counter: one call instead of two updates (same digest)
        return _blake2b(len(parts[0]).to_bytes(8, "little") + parts[0], digest_size=8).hexdigest()
    digest = _blake2b(digest_size=8)
    for part in parts:
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.hexdigest()


_blake2b = hashlib.blake2b


class Track(NamedTuple):
    """What we remember about one key between passes (a NamedTuple: one is built per metrics key per pass)."""

    digest: str
    passes: int = 0
    bounded: bool = False

    def encode(self) -> str:
        return f"{self.digest}|{self.passes}|{int(self.bounded)}"

    @classmethod
    def decode(cls, raw: bytes | None) -> Track | None:
        if not raw:
            return None
        try:
            digest, passes, bounded = raw.decode().split("|")
            return cls(digest, int(passes), bounded == "1")
        except (ValueError, UnicodeDecodeError):
            return None


def next_track(previous: Track | None, digest: str, ttl: int, stale_after: int) -> tuple[Track | None, str]:
    """(what to remember, what happened) for one key seen with ``ttl`` this pass."""
    if ttl == -1:
        if previous is not None and previous.bounded:
            return Track(digest), "revived"
        passes = previous.passes + 1 if previous is not None and previous.digest == digest else 0
        return Track(digest, passes), ("stale" if passes >= stale_after else "no_ttl")
    if ttl >= 0 and previous is not None and previous.bounded:
        return previous, "awaiting_expiry"
    return None, "has_ttl"


@dataclass
class Hygiene:
    """Accumulates one pass's hygiene over batches; ``apply`` bounds stale keys when asked to."""

    client: Redis
    stale_after: int = STALE_AFTER_PASSES
    stale_ttl: int = STALE_KEY_TTL_S
    apply: bool = True
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    workers: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))  # [keys, silent keys]
    largest_tables: list[tuple[int, str]] = field(default_factory=list)

    def begin(self) -> None:
        self.client.delete(FINGERPRINTS_NEXT_KEY)

    def observe(self, seen: list[tuple[bytes, str, str, int]], previous: list[bytes | None]) -> None:
        """``seen`` = (key, worker, digest, ttl) of well-formed keys, ``previous`` = their stored tracks."""
        remember: dict[Any, str] = {}  # bytes keys; redis-py types a mapping's keys as a wider union
        stale: list[bytes] = []
        tracks: dict[bytes, Track] = {}
        for (key, worker, digest, ttl), raw in zip(seen, previous, strict=True):
            track, outcome = next_track(Track.decode(raw), digest, ttl, self.stale_after)
            self.counts[outcome] += 1
            self.workers[worker][0] += 1
            if outcome in ("stale", "awaiting_expiry"):
                self.workers[worker][1] += 1
            if outcome == "stale":
                stale.append(key)
            if track is not None:
                tracks[key] = track
        if stale and self.apply:
            for key, bounded in zip(stale, expire_if_persistent(self.client, stale, self.stale_ttl), strict=True):
                if bounded:
                    tracks[key] = Track(tracks[key].digest, tracks[key].passes, True)
                    self.counts["bounded"] += 1
        remember = {key: track.encode() for key, track in tracks.items()}
        if remember:
            self.client.hset(FINGERPRINTS_NEXT_KEY, mapping=remember)

    def note_table(self, series_key: str, length: int) -> None:
        self.largest_tables.append((length, series_key))
        if len(self.largest_tables) > 50:
            self.largest_tables = sorted(self.largest_tables, reverse=True)[:5]

    def finish(self) -> dict[str, Any]:
        """Swap in this pass's fingerprints (vanished keys drop out) and return the report."""
        self.client.eval(_SWAP, 2, FINGERPRINTS_NEXT_KEY, FINGERPRINTS_KEY, FINGERPRINTS_TTL_S)
        silent = sorted(worker for worker, (keys, quiet) in self.workers.items() if keys and keys == quiet)
        counts = self.counts
        return {
            "no_ttl": counts["no_ttl"] + counts["stale"] + counts["revived"],
            "stale": counts["stale"],
            "bounded_now": counts["bounded"],
            "awaiting_expiry": counts["awaiting_expiry"],
            "revived": counts["revived"],
            "with_ttl": counts["has_ttl"],
            "silent_workers": silent,
            "stale_after_passes": self.stale_after,
            "stale_key_ttl_s": self.stale_ttl,
            "applied": self.apply,
            "largest_tables": [{"series": name, "items": length} for length, name in sorted(self.largest_tables, reverse=True)[:5]],
        }


# This pass's tracks replace the last pass's in one step (both names share a hash tag: one slot on a Redis Cluster).
_SWAP = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('EXPIRE', KEYS[2], ARGV[1])
else
  redis.call('DEL', KEYS[2])
end
return 1
"""


def requests_report(client: Redis, cap: int, facet_keys: list[bytes]) -> dict[str, Any]:
    """The ``requests`` list (``{requests}`` on a Redis Cluster) against its cap and the facet hashes' sizes (read only)."""
    name = requests_key(is_cluster(client))
    pipe = client.pipeline(transaction=False)
    pipe.type(name)
    pipe.ttl(name)
    for key in facet_keys:
        pipe.type(key)
    replies = pipe.execute()
    kind, ttl, facet_types = replies[0], replies[1], replies[2:]
    report: dict[str, Any] = {"cap": cap, "length": 0, "ttl": ttl if ttl >= 0 else None, "wrong_type": False, "facets": {}}
    if kind == b"list":
        report["length"] = client.llen(name)
    elif kind != b"none":
        report["wrong_type"] = True
    hashes = [key for key, facet_type in zip(facet_keys, facet_types, strict=True) if facet_type == b"hash"]
    if hashes:
        pipe = client.pipeline(transaction=False)
        for key in hashes:
            pipe.hlen(key)
        for key, length in zip(hashes, pipe.execute(), strict=True):
            report["facets"][key.decode("utf-8", "replace").split(":facet:", 1)[1]] = length
    report["over_cap"] = max(0, report["length"] - cap)
    return report
