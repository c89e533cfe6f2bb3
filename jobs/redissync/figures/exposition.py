"""The Prometheus text format (version 0.0.4), written and merged: no client library ships in BunkerWeb's scheduler.

Only gauges and counters, each sample named exactly like its family (no histogram suffixes), so a section is
merged with others by family name alone, the rule ``redissync.lua`` applies to the sections the jobs send it
(:func:`merge` is its Python twin, used by the demo and the tests' oracle).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "redissync_"
_NAME = re.compile(r"redissync_[a-z0-9_]*[a-z0-9]")
_LABEL = re.compile(r"[a-z][a-z0-9_]*")
_RESERVED_LABELS = {"job", "instance"}  # Prometheus's own target labels: a scraped one would be renamed exported_*
MAX_LABEL_VALUE = 128


@dataclass
class Family:
    """One metric: its samples, keyed by their labels (a tuple of ``(name, value)`` pairs, sorted)."""

    name: str
    kind: str  # "gauge" or "counter"
    help: str
    samples: dict[tuple[tuple[str, str], ...], float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name) or self.kind not in ("gauge", "counter"):
            raise ValueError(f"not a redissync metric: {self.name} ({self.kind})")
        if (self.kind == "counter") != self.name.endswith("_total"):
            raise ValueError(f"{self.name}: counters, and only counters, end in _total")

    def add(self, value: float | bool, **labels: str) -> Family:
        for label, text in labels.items():
            if not _LABEL.fullmatch(label) or label in _RESERVED_LABELS or len(text) > MAX_LABEL_VALUE:
                raise ValueError(f"{self.name}: label {label} is not allowed here")
        self.samples[tuple(sorted(labels.items()))] = float(value)
        return self


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return format(value, ".15g")  # a timestamp to the 10 µs, without binary noise such as 1.4999999999999999e-05


def render(families: Iterable[Family]) -> str:
    """The families in the text format; a family without samples is left out (absent means unknown)."""
    out: list[str] = []
    for family in families:
        if not family.samples:
            continue
        out.append(f"# HELP {family.name} {family.help.replace(chr(92), chr(92) * 2).replace(chr(10), chr(92) + 'n')}")
        out.append(f"# TYPE {family.name} {family.kind}")
        for labels, value in sorted(family.samples.items()):
            text = ",".join(f'{name}="{_escape(label)}"' for name, label in labels)
            out.append(f"{family.name}{{{text}}} {format_value(value)}" if text else f"{family.name} {format_value(value)}")
    return "\n".join(out) + "\n" if out else ""


def _family_of(line: str) -> str:
    if line.startswith("# "):
        parts = line.split(" ", 3)
        return parts[2] if len(parts) > 2 else ""
    return re.split(r"[{ ]", line, maxsplit=1)[0]


def merge(sections: Mapping[str, str] | Iterable[str]) -> str:
    """Several sections as one exposition: each family's HELP/TYPE once, its samples together, families
    in order of first appearance (the text format forbids a family split in two)."""
    texts = sections.values() if isinstance(sections, Mapping) else sections
    order: list[str] = []
    heads: dict[str, list[str]] = {}
    samples: dict[str, list[str]] = {}
    for text in texts:
        for line in text.splitlines():
            if not line.strip():
                continue
            name = _family_of(line)
            if name not in heads:
                order.append(name)
                heads[name], samples[name] = [], []
            if line.startswith("# "):
                kind = line.split(" ", 2)[1]
                if not any(head.split(" ", 2)[1] == kind for head in heads[name]):
                    heads[name].append(line)
            else:
                samples[name].append(line)
    return "".join("\n".join(heads[name] + samples[name]) + "\n" for name in order)
