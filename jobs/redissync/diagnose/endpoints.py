"""Several equivalent endpoints checked side by side (the sentinels of REDIS_SENTINEL_HOSTS, the seed nodes of
REDIS_CLUSTER_NODES): clients need only one of them, so one that fails a step is a warning and is dropped from
the next steps; the step fails only when none is left."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from ..errors import StepError
from ..reports import Step
from .network import Endpoint
from .protocol import Session
from .steps import Walk


class Endpoints:
    """The endpoints still usable after each step, and why the others were dropped (as warnings)."""

    noun = "endpoint"  # "sentinel", "seed node": how sentences and details name one
    setting = ""  # the setting that lists them

    def __init__(self, walk: Walk, endpoints: list[Endpoint]):
        self.walk = walk
        self.settings = walk.config
        self.alive = list(endpoints)
        self.total = len(endpoints)
        self.sessions: dict[Endpoint, Session] = {}

    def each(self, step: Step, action: Callable[[Endpoint], str]) -> None:
        """Run ``action`` on every usable endpoint; drop failures (warning), fail the step if none is left.
        Each outcome is data in ``details[<noun>s]`` (the UI's topology reads it) and a line of the text view."""
        failures: list[str] = []
        outcomes = step.details.setdefault(f"{self.noun.replace(' ', '_')}s", [])
        for endpoint in list(self.alive):
            try:
                summary = action(endpoint)
                outcomes.append({"address": endpoint.address, "ok": True, "summary": summary})
                step.lines.append(f"✓ {endpoint.address}: {summary}")
            except (StepError, RedisError) as error:
                sentence = str(error) if isinstance(error, StepError) else self.redis_sentence(endpoint, error)
                failures.append(sentence)
                outcomes.append({"address": endpoint.address, "ok": False, "reason": sentence})
                step.lines.append(f"✗ {endpoint.address}")
                self.alive.remove(endpoint)
                self.sessions.pop(endpoint, None)
        if not self.alive:
            raise StepError(failures[0] if len(failures) == 1 else f"no {self.noun} of {self.setting} is usable: {failures[0]}")
        step.warnings.extend(f"{sentence} (still working: {len(self.alive)} other {self.noun}(s) answer)" for sentence in failures)
        step.summary = f"{len(self.alive)}/{self.total} {self.noun}(s) usable"

    def authenticate(self, endpoint: Endpoint) -> str:
        session = self.walk.session(endpoint)
        self.sessions[endpoint] = session
        return session.authenticate(self.walk.budget)

    def redis_sentence(self, endpoint: Endpoint, error: RedisError) -> str:
        return f"{endpoint.label} answered an error ({first_line(error)}): check {self.setting}"

    def query(self, endpoint: Endpoint, *args: Any) -> Any:
        return self.sessions[endpoint].command(self.walk.budget, *args)


def first_line(error: BaseException) -> str:
    return str(error).splitlines()[0][:160] if str(error) else type(error).__name__
