"""The diagnosis: walk the connection step by step, stop at the first failing step, explain it in one sentence.

configuration → DNS → TCP → TLS → AUTH → SELECT → PING ×5 → server facts, and with Sentinel: each sentinel
(DNS, TCP, TLS, AUTH, master lookup), then the master they name (TCP, TLS, AUTH, SELECT, PING, facts), then
every sentinel's view (agreement, CKQUORUM) and the replicas. With Redis Cluster: each seed node, the cluster's
state and shards, every node at its announced address, redis-py's cluster client (:mod:`.cluster`). Each step is timed and bounded by
REDIS_TIMEOUT; a failure names the setting(s) to change. Risky-but-working setups become warnings.
Most BunkerWeb Redis trouble is configuration, not Redis: this is what users read.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from ..errors import DiagnosisStopped, SettingsError, StepError
from ..reports import CONFIG, Report
from ..settings import Settings, load_settings
from .cluster import walk_cluster
from .network import Endpoint
from .sentinel import walk_sentinels
from .steps import Walk, walk_node

SHORT_TIMEOUT_S = 0.1


def diagnose(env: Mapping[str, str] | None = None, instances: int | None = None) -> Report:
    """Diagnose the Redis described by ``env`` (os.environ inside BunkerWeb). Never raises. ``instances``: how
    many BunkerWeb's database lists (:func:`.capacity.instance_count`; None outside BunkerWeb)."""
    env = os.environ if env is None else env
    started = time.monotonic()
    report = Report()
    walk = Walk(report, env=env, instances=instances)
    try:
        settings = _configuration(walk, env)
        if settings.enabled:
            walk.settings = settings
            if settings.cluster_nodes:
                walk_cluster(walk)
            elif settings.sentinels:
                walk_sentinels(walk)
            else:
                walk_node(walk, Endpoint(settings.host, settings.port, "server"), resolve_step=True)
    except DiagnosisStopped:
        pass
    finally:
        walk.close()
        report.duration_ms = (time.monotonic() - started) * 1000
    return report


def _configuration(walk: Walk, env: Mapping[str, str]) -> Settings:
    with walk.step(CONFIG, "configuration") as step:
        try:
            settings = load_settings(env)
        except SettingsError as error:
            raise StepError("; ".join(str(problem) for problem in error.problems)
                            + ": fix it in the scheduler's configuration (BunkerWeb pushes it to every instance)") from None
        report = walk.report
        report.enabled, report.mode, report.target, report.settings = settings.enabled, settings.mode, settings.target(), settings.public()
        if not settings.enabled:
            step.summary = "USE_REDIS is not yes: redissync is disabled, nothing to check"
            return settings
        tls = ("TLS, verified" if settings.ssl_verify else "TLS, NOT verified") if settings.ssl else "plain TCP"
        step.summary = (f"{settings.mode}, {tls}, db {settings.database}, timeout {settings.as_configured(settings.timeout)}, "
                        f"pool {settings.keepalive_pool}")
        report.notes.extend(settings.notices)
        step.warnings.extend(settings.warnings)
        written = str(env.get("REDIS_TIMEOUT", "")).strip() or settings.as_configured(settings.timeout, with_unit=False)
        # The units rule is information, not a warning: a healthy BunkerWeb install must read as healthy.
        if settings.in_milliseconds:
            report.notes.append("a bare REDIS_TIMEOUT or REDIS_KEEPALIVE_IDLE is milliseconds, as BunkerWeb's core redis "
                                f"plugin defines them (a suffix such as s or m sets the unit): REDIS_TIMEOUT={written} "
                                f"means {settings.timeout:g} s")
        else:
            report.notes.append("a bare REDIS_TIMEOUT or REDIS_KEEPALIVE_IDLE is seconds (redissync's own settings table, "
                                f"outside BunkerWeb): REDIS_TIMEOUT={written} means {settings.timeout:g} s")
        if settings.timeout < SHORT_TIMEOUT_S:
            step.warnings.append(f"REDIS_TIMEOUT={written} is only {settings.timeout * 1000:g} ms: a busy Redis or network "
                                 "will time out; raise REDIS_TIMEOUT")
    return settings


