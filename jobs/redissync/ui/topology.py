"""The Sentinel topology section of the UI page: sentinels, the master they name, their agreement and the
replicas, from the facts the check report's steps carry (never from its display lines)."""

from __future__ import annotations

from typing import Any

from ..reports import REPLICAS, SENTINEL_LOOKUP, SENTINEL_STEPS, SENTINEL_VIEWS
from .format import DASH, dig, first, number, text
from .sections import no_report


def topology(check: dict[str, Any] | None, public: dict[str, Any] | None, configured: list[str] | None = None) -> dict[str, Any]:
    """Sentinels, the master they name, their agreement and the replicas, from the check report's steps
    (each ``sentinel-*`` step's ``details.sentinels`` says which sentinel dropped out there, and why)."""
    mode = first(public or {}, "mode", default=None) or dig(check, "mode")
    if mode != "sentinel":
        return {"state": "na", "message": "Standalone mode: no Sentinel topology to show."}
    by_id = {step.get("id"): step for step in dig(check, "steps", default=[]) if isinstance(step, dict)}
    if not any(step_id in by_id for step_id in SENTINEL_STEPS):
        return no_report("redissync-check", "the Sentinel topology")
    answers = dig(by_id, SENTINEL_LOOKUP, "details", "answers", default={})
    views = dig(by_id, SENTINEL_VIEWS, "details", "views", default={})
    dropped: dict[str, str] = {}
    addresses = list(configured or [])
    for step_id in SENTINEL_STEPS:
        step = by_id.get(step_id) or {}
        for outcome in dig(step, "details", "sentinels", default=[]) or []:
            address = text(outcome.get("address")) if isinstance(outcome, dict) else ""
            if address and address not in addresses:
                addresses.append(address)
            if address and not outcome.get("ok") and address not in dropped:
                dropped[address] = text(outcome.get("reason"), 220) or f"dropped at {text(step.get('title'))}"
    sentinels = []
    for address in addresses:
        view = views.get(address) if isinstance(views, dict) else None
        detail = dropped.get(address, "")
        if not detail and isinstance(view, dict):
            detail = f"flags {text(view.get('flags'))}; {text(str(view.get('ckquorum', '')).split('.')[0], 80)}"
        sentinels.append({"address": text(address, 80), "ok": address in answers or (address not in dropped and bool(view)),
                          "master": text(answers.get(address), 80) or DASH, "detail": detail})
    replicas = []
    for item in dig(by_id, REPLICAS, "details", "replicas", default=[]):
        if isinstance(item, dict):
            flags = text(item.get("flags"), 80)
            down = "s_down" in flags or "disconnected" in flags or item.get("link") not in (None, "ok")
            replicas.append({"address": text(item.get("address"), 80), "ok": not down, "lag": _lag(item.get("lag_s")),
                             "detail": f"{flags}, link {text(item.get('link')) or DASH}"})
    named = {address for address in answers.values()} if isinstance(answers, dict) else set()
    quorum = next((text(view.get("quorum")) for view in views.values() if isinstance(view, dict)), "") if isinstance(views, dict) else ""
    reachable = sum(1 for sentinel in sentinels if sentinel["ok"])
    if not named:
        agreement_text, agreement_ok = "no sentinel named a master", False
    elif len(named) == 1:
        agreement_text, agreement_ok = f"{len(answers)}/{len(sentinels) or len(answers)} sentinels name the same master", True
    else:
        agreement_text, agreement_ok = "the sentinels disagree on the master: " + ", ".join(sorted(named)), False
    return {
        "state": "ok",
        "master": text(dig(by_id, SENTINEL_LOOKUP, "details", "master"), 80) or DASH,
        "master_name": text(dig(public, "sentinel_master")) or "",
        "quorum": quorum,
        "sentinels": sentinels,
        "replicas": replicas,
        "reachable": f"{reachable}/{len(sentinels)}" if sentinels else DASH,
        "degraded": reachable < len(sentinels),
        "agreement": agreement_text,
        "agreement_ok": agreement_ok,
    }


def _lag(value: Any) -> str:
    seconds = number(value)
    return DASH if seconds is None else f"{seconds:g} s"
