"""The Sentinel half of the diagnosis: every sentinel, the master they elect, their agreement, the replicas.

A sentinel that is down, unreachable or disagrees is a *warning*: clients still find the master through
the others. Only when no sentinel can be used, or none knows REDIS_SENTINEL_MASTER, does a step fail.
Then the master the majority names is walked like a standalone server (TCP → … → server facts).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from redis.exceptions import RedisError, ResponseError

from ..errors import StepError
from ..net import host_port, is_ip
from ..reports import REPLICAS, SENTINEL_AUTH, SENTINEL_DNS, SENTINEL_LOOKUP, SENTINEL_TCP, SENTINEL_TLS, SENTINEL_VIEWS, Step
from .endpoints import Endpoints, first_line
from .network import Endpoint, resolve, tcp_connect
from .steps import Walk, walk_node
from .tls import tls_probe, tls_summary, tls_warnings, verification_sentence


def _pairs(flat: Any) -> dict[str, str]:
    """Sentinel's flat [key, value, key, value…] replies as a dict."""
    items = list(flat or [])
    return dict(zip(items[::2], items[1::2], strict=False))


class SentinelWalk(Endpoints):
    """The sentinels of REDIS_SENTINEL_HOSTS (``details["sentinels"]`` per step)."""

    noun = "sentinel"
    setting = "REDIS_SENTINEL_HOSTS"

    def __init__(self, walk: Walk):
        super().__init__(walk, [Endpoint(address.host, address.port, "sentinel") for address in walk.config.sentinels])
        self.master = self.settings.sentinel_master

    def redis_sentence(self, endpoint: Endpoint, error: RedisError) -> str:
        text = first_line(error)
        if "NOPERM" in text:
            return (f"{endpoint.label} refused a SENTINEL command to {self.settings.sentinel_username or 'the default user'} "
                    f"({text}): grant it +@sentinel or check REDIS_SENTINEL_USERNAME")
        return f"{endpoint.label} answered an error ({text}): check REDIS_SENTINEL_HOSTS lists Redis Sentinels"

    def query(self, endpoint: Endpoint, *args: Any) -> Any:
        return super().query(endpoint, "SENTINEL", *args)


def walk_sentinels(walk: Walk) -> None:
    sentinels = SentinelWalk(walk)
    settings = walk.config

    with walk.step(SENTINEL_DNS, "DNS resolution (sentinels)") as step:
        sentinels.each(step, lambda ep: f"{ep.host} → {', '.join(resolve(ep, walk.budget()))}")
    with walk.step(SENTINEL_TCP, "TCP connect (sentinels)") as step:
        sentinels.each(step, lambda ep: f"accepted (peer {tcp_connect(ep, walk.budget())})")
    if settings.ssl:
        with walk.step(SENTINEL_TLS, "TLS handshake (sentinels)") as step:
            sentinels.each(step, lambda ep: _sentinel_tls(walk, step, ep, first=ep == sentinels.alive[0]))
    else:
        walk.skip(SENTINEL_TLS, "TLS handshake (sentinels)", "skipped: REDIS_SSL=no")

    with walk.step(SENTINEL_AUTH, "AUTH (sentinels)") as step:
        sentinels.each(step, sentinels.authenticate)

    answers: dict[Endpoint, str] = {}
    with walk.step(SENTINEL_LOOKUP, "master lookup") as step:
        master_address = _lookup(sentinels, step, answers)
    host, _, port = master_address.rpartition(":")
    master = Endpoint(host.strip("[]"), int(port), "master")
    walk.report.target = f"{settings.target()} → master {master.address}"

    walk_node(walk, master, resolve_step=not is_ip(master.host), suffix=" (master)")
    with walk.step(SENTINEL_VIEWS, "sentinels' views") as step:
        _views(sentinels, step, answers, master_address)
    with walk.step(REPLICAS, "replicas") as step:
        _replicas(sentinels, step)


def _sentinel_tls(walk: Walk, step: Step, endpoint: Endpoint, first: bool) -> str:
    result = tls_probe(endpoint, walk.config, walk.budget)
    if result.verified is False:
        raise StepError(verification_sentence(endpoint, result))
    warnings = tls_warnings(endpoint, walk.config, result)
    # REDIS_SSL_VERIFY=no is one decision: say it once, not once per sentinel.
    step.warnings.extend(w for w in warnings if first or not w.startswith("REDIS_SSL_VERIFY=no"))
    step.details[endpoint.address] = result.to_dict()
    return tls_summary(result)


def _lookup(sentinels: SentinelWalk, step: Step, answers: dict[Endpoint, str]) -> str:
    """Ask every sentinel for the master's address; the majority wins, dissent is a warning."""
    unknown: list[Endpoint] = []

    def ask(endpoint: Endpoint) -> str:
        reply = sentinels.query(endpoint, "GET-MASTER-ADDR-BY-NAME", sentinels.master)
        if not reply:
            unknown.append(endpoint)
            return f"does not know master '{sentinels.master}'"
        address = host_port(str(reply[0]), reply[1])
        answers[endpoint] = address
        return f"master '{sentinels.master}' is {address}"

    sentinels.each(step, ask)
    if not answers:
        first = unknown[0]
        known = sorted(_pairs(entry).get("name", "?") for entry in sentinels.query(first, "MASTERS") or [])
        raise StepError(f"the master name '{sentinels.master}' is unknown to {first.label}: sentinels know {known}: "
                        "set REDIS_SENTINEL_MASTER")
    for endpoint in unknown:
        step.warnings.append(f"{endpoint.label} does not monitor master '{sentinels.master}': it cannot vote in a failover; "
                             "check its sentinel monitor line or remove it from REDIS_SENTINEL_HOSTS")
    votes = Counter(answers.values())
    chosen = max(votes, key=lambda address: (votes[address], -list(answers.values()).index(address)))
    for endpoint, address in answers.items():
        if address != chosen:
            step.warnings.append(f"the sentinels disagree: {endpoint.label} names {address} as master '{sentinels.master}' "
                                 f"while {votes[chosen]} other(s) name {chosen} (a failover in progress, or a split configuration)")
    step.summary = f"master '{sentinels.master}' is {chosen} ({votes[chosen]}/{sentinels.total} sentinels agree)"
    step.details.update(master=chosen, answers={endpoint.address: address for endpoint, address in answers.items()})
    return chosen


def _views(sentinels: SentinelWalk, step: Step, answers: dict[Endpoint, str], chosen: str) -> None:
    """Every usable sentinel's view of the master: flags, peers, and whether a failover could be authorised."""
    views = {}
    for endpoint in list(sentinels.alive):
        if endpoint not in answers:
            continue
        master: dict[str, str] = {}
        try:
            master = _pairs(sentinels.query(endpoint, "MASTER", sentinels.master))
            quorum = str(sentinels.query(endpoint, "CKQUORUM", sentinels.master))
        except ResponseError as error:  # NOQUORUM … is an error reply
            quorum = str(error)
        flags = master.get("flags", "?")
        views[endpoint.address] = {"master": answers[endpoint], "flags": flags, "quorum": master.get("quorum"),
                                   "other_sentinels": master.get("num-other-sentinels"), "ckquorum": quorum}
        step.lines.append(f"{endpoint.address}: master {answers[endpoint]} ({flags}), quorum {master.get('quorum')}, "
                          f"{master.get('num-other-sentinels')} other sentinel(s) known; {quorum.split('.')[0]}")
        if "s_down" in flags or "o_down" in flags:
            step.warnings.append(f"{endpoint.label} sees master '{sentinels.master}' as down ({flags})")
        if not quorum.startswith("OK"):
            step.warnings.append(f"{endpoint.label}: {quorum.split('.')[0]}: the sentinels could not authorise a failover now; "
                                 "bring the missing sentinels back or lower the quorum")
    step.details = {"views": views}
    agreeing = sum(1 for address in answers.values() if address == chosen)
    ok = sum(1 for view in views.values() if str(view["ckquorum"]).startswith("OK"))
    step.summary = (f"{agreeing}/{sentinels.total} sentinel(s) agree on {chosen}; "
                    f"CKQUORUM OK on {ok}/{len(views)}")


def _replicas(sentinels: SentinelWalk, step: Step) -> None:
    """Replicas as the sentinels see them, with the lag the master reports."""
    facts = sentinels.walk.report.facts
    lag = {replica["address"]: replica for replica in facts.get("replicas", [])}
    endpoint = next(ep for ep in sentinels.alive if ep in sentinels.sessions)
    replicas = [_pairs(entry) for entry in sentinels.query(endpoint, "REPLICAS", sentinels.master) or []]
    rows = []
    for replica in replicas:
        address = f"{replica.get('ip')}:{replica.get('port')}"
        flags = replica.get("flags", "")
        seen = lag.get(address, {})
        rows.append({"address": address, "flags": flags, "link": replica.get("master-link-status"),
                     "offset": replica.get("slave-repl-offset"), "lag_s": seen.get("lag_s"), "state": seen.get("state")})
        step.lines.append(f"{address}: {flags}, link {replica.get('master-link-status')}, lag {seen.get('lag_s', '?')} s")
        if "s_down" in flags or "disconnected" in flags:
            step.warnings.append(f"replica {address} of master '{sentinels.master}' is down ({flags}): there is nothing to fail over to")
        elif replica.get("master-link-status") not in (None, "ok"):
            step.warnings.append(f"replica {address} has lost its link to the master (master-link-status "
                                 f"{replica.get('master-link-status')}): it is falling behind")
    if not replicas:
        step.warnings.append(f"master '{sentinels.master}' has no replica: the sentinels have nothing to fail over to")
    step.details = {"replicas": rows}
    healthy = sum(1 for row in rows if "s_down" not in row["flags"] and "disconnected" not in row["flags"])
    step.summary = f"{len(rows)} replica(s), {healthy} up" + (
        f", max lag {max(row['lag_s'] or 0 for row in rows)} s" if rows else "")
