"""The step runner shared by both diagnoses: :class:`Walk` times and bounds each step and turns its failure
into one sentence; :func:`walk_node` checks one data node (the server, or the master the sentinels name).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from redis.exceptions import RedisError

from ..cluster_mode import cluster_sentence
from ..connection import explain
from ..errors import DiagnosisStopped, StepError
from ..logs import debug_traceback
from ..redaction import redact
from ..reports import AUTH, DNS, FAIL, PING, SELECT, SERVER, SKIP, TCP, TLS, Report, Step
from ..settings import Settings
from .capacity import capacity
from .network import Endpoint, resolve, tcp_connect
from .protocol import Session, facts_summary, facts_warnings
from .tls import tls_probe, tls_summary, tls_warnings, verification_sentence

LOGGER = logging.getLogger("redissync.diagnose")


class Walk:
    """Runs steps in order, timing each and giving it REDIS_TIMEOUT; owns the sessions it opens."""

    def __init__(self, report: Report, settings: Settings | None = None, env: Mapping[str, str] | None = None,
                 instances: int | None = None):
        self.report = report
        self.settings = settings
        self.env = env  # the configuration's secrets are masked in a DEBUG traceback
        self.instances = instances  # how many instances BunkerWeb's database lists (None: outside BunkerWeb)
        self.sessions: list[Session] = []
        self._deadline = 0.0

    @property
    def config(self) -> Settings:
        """The settings every step after the configuration step runs with (that step stops the walk without them)."""
        assert self.settings is not None
        return self.settings

    def budget(self) -> float:
        """Seconds left in the current step (never zero: a zero socket timeout means non-blocking)."""
        return max(0.001, self._deadline - time.monotonic())

    @contextmanager
    def step(self, step_id: str, title: str) -> Iterator[Step]:
        step = Step(step_id, title)
        self.report.steps.append(step)
        started = time.monotonic()
        self._deadline = started + (self.settings.timeout if self.settings else 5.0)
        try:
            yield step
        except StepError as error:
            step.status, step.sentence = FAIL, str(error)
        except RedisError as error:
            step.status, step.sentence = FAIL, explain(error, self.settings) if self.settings else type(error).__name__
        except Exception as error:  # a message may carry data: keep the type only, details at DEBUG
            step.status = FAIL
            step.sentence = f"unexpected {type(error).__name__} during {title}: run with LOG_LEVEL=DEBUG for details"
            debug_traceback(LOGGER, f"diagnosis step {step_id} failed", self.env)
        finally:
            step.duration_ms = (time.monotonic() - started) * 1000
            self._scrub(step)
        if step.status == FAIL:
            raise DiagnosisStopped

    def skip(self, step_id: str, title: str, summary: str) -> None:
        self.report.steps.append(Step(step_id, title, status=SKIP, summary=summary))

    def session(self, endpoint: Endpoint) -> Session:
        session = Session(self.config, endpoint)
        self.sessions.append(session)
        return session

    def close(self) -> None:
        for session in self.sessions:
            session.close()

    def _scrub(self, step: Step) -> None:
        """Belt and braces: no configured secret survives in anything a step shows."""
        secrets = [s for s in (self.settings.password, self.settings.sentinel_password) if s] if self.settings else []
        if not secrets:
            return

        def clean(text: str) -> str:
            return redact(text, secrets)

        step.summary = clean(step.summary)
        step.sentence = clean(step.sentence) if step.sentence else None
        step.lines = [clean(line) for line in step.lines]
        step.warnings = [clean(warning) for warning in step.warnings]


def walk_node(walk: Walk, endpoint: Endpoint, resolve_step: bool, suffix: str = "") -> Session:
    """DNS → TCP → TLS → AUTH → SELECT → PING → facts on one data node (the server, or the elected master)."""
    settings = walk.config
    if resolve_step:
        with walk.step(DNS, f"DNS resolution{suffix}") as step:
            addresses = resolve(endpoint, walk.budget())
            step.summary = f"{endpoint.host} → {', '.join(addresses)}"
            step.details = {"host": endpoint.host, "addresses": addresses}
    with walk.step(TCP, f"TCP connect{suffix}") as step:
        peer = tcp_connect(endpoint, walk.budget())
        step.summary, step.details = f"{endpoint.address} accepted (peer {peer})", {"address": endpoint.address, "peer": peer}
    tls_step(walk, endpoint, TLS, f"TLS handshake{suffix}")
    session = walk.session(endpoint)
    with walk.step(AUTH, f"AUTH{suffix}") as step:
        step.summary = session.authenticate(walk.budget)
        if not (settings.password or settings.username):
            step.warnings.append(
                f"{endpoint.label} accepts clients without a password (REDIS_PASSWORD empty): anyone who reaches it can "
                "read and lift bans; set requirepass (or an ACL user) on the server and REDIS_PASSWORD here")
    with walk.step(SELECT, f"SELECT{suffix}") as step:
        step.summary = session.select(walk.budget)
    with walk.step(PING, f"PING ×5{suffix}") as step:
        latency = session.ping(walk.budget)
        walk.report.latency_ms = step.details = latency
        step.summary = f"min {latency['min']:.2f} / median {latency['median']:.2f} / max {latency['max']:.2f} ms"
    with walk.step(SERVER, f"server facts{suffix}") as step:
        facts, _ = session.facts(walk.budget)
        walk.report.facts = step.details = facts
        step.summary = facts_summary(facts)
        if facts["cluster"]:
            raise StepError(cluster_sentence(endpoint.label))
        if facts["role"] != "master":
            raise StepError(_not_master_sentence(endpoint, facts, settings))
        step.warnings.extend(facts_warnings(endpoint, facts))
        connections = capacity(walk.env or {}, settings.keepalive_pool, walk.instances, facts["maxclients"])
        warning = connections.warning()
        if warning:
            step.warnings.append(warning)
        else:
            walk.report.notes.append(connections.note())
    return session


def _not_master_sentence(endpoint: Endpoint, facts: dict[str, Any], settings: Settings) -> str:
    if endpoint.kind == "server":
        return (f"REDIS_HOST/REDIS_PORT point at {endpoint.address}, a read-only replica of {facts.get('master')}: point "
                "REDIS_HOST at the master, or use REDIS_SENTINEL_HOSTS so the master is found after every failover")
    return (f"the sentinels name {endpoint.address} as master '{settings.sentinel_master}' but it reports role "
            f"{facts['role']}: a failover is in progress, or REDIS_SENTINEL_HOSTS lists sentinels of another setup")


def tls_step(walk: Walk, endpoint: Endpoint, step_id: str, title: str) -> None:
    settings = walk.config
    if not settings.ssl:
        walk.skip(step_id, title, "skipped: REDIS_SSL=no")
        return
    with walk.step(step_id, title) as step:
        result = tls_probe(endpoint, settings, walk.budget)
        step.details = result.to_dict()
        step.summary = tls_summary(result)
        if result.verified is False:
            raise StepError(verification_sentence(endpoint, result))
        step.warnings.extend(tls_warnings(endpoint, settings, result))
