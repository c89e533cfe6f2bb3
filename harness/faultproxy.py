"""A TCP fault proxy on loopback between a client and Redis, switchable at run time.

Modes (:class:`Fault`): ``pass`` forwards; ``delay`` holds every chunk ``delay_ms`` before forwarding it;
``blackhole`` accepts and reads but never answers (a connection that saw it stays dead, as a client that
timed out would drop it anyway); ``reset`` answers with a TCP RST (``SO_LINGER 0``); ``cut`` forwards the
first ``cut_bytes`` bytes of the server's replies on a connection, then closes it.

Every loop waits at most :data:`TICK` seconds before it looks at the stop flag again, and :meth:`stop`
joins every thread with a bound, so a proxy never outlives its test.
"""

from __future__ import annotations

import contextlib
import enum
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

TICK = 0.05  # longest a loop waits before it re-reads the mode and the stop flag
CHUNK = 65536
JOIN_TIMEOUT = 5.0


class Fault(enum.Enum):
    PASS = "pass"
    DELAY = "delay"
    BLACKHOLE = "blackhole"
    RESET = "reset"
    CUT = "cut"


@dataclass
class ProxyStats:
    """What the proxy did, for assertions and the figures table."""

    accepted: int = 0
    reset: int = 0
    blackholed: int = 0
    cut: int = 0
    delayed_chunks: int = 0
    forwarded_bytes: int = 0
    faults_set: dict[str, int] = field(default_factory=dict)


def _reset_close(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class FaultProxy:
    """``127.0.0.1:<port>`` → ``127.0.0.1:<upstream_port>``, with a fault chosen by :meth:`set`."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self.stats = ProxyStats()
        self._fault = Fault.PASS
        self._delay_s = 0.0
        self._cut_bytes = 0
        self._epoch = 0  # bumped on every switch: a connection re-counts its cut budget from the switch
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(TICK)
        self.port = self._listener.getsockname()[1]

    # -- control ---------------------------------------------------------------------------------------
    def set(self, fault: Fault | str, *, delay_ms: int = 0, cut_bytes: int = 0) -> FaultProxy:
        """Switch the fault; applies to new connections at once and to open ones at their next chunk."""
        fault = Fault(fault)
        with self._lock:
            self._fault, self._delay_s, self._cut_bytes = fault, delay_ms / 1000.0, cut_bytes
            self._epoch += 1
            self.stats.faults_set[fault.value] = self.stats.faults_set.get(fault.value, 0) + 1
        return self

    def heal(self) -> FaultProxy:
        return self.set(Fault.PASS)

    @property
    def fault(self) -> Fault:
        return self._fault

    def _mode(self) -> tuple[Fault, float, int, int]:
        with self._lock:
            return self._fault, self._delay_s, self._cut_bytes, self._epoch

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        self._spawn(self._accept_loop, "faultproxy-accept")
        return self

    def stop(self) -> None:
        """Stop accepting, close every connection, join every thread (bounded)."""
        self._stop.set()
        deadline = time.monotonic() + JOIN_TIMEOUT
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
        self._listener.close()
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            raise AssertionError(f"fault proxy threads still alive after {JOIN_TIMEOUT:g} s: {alive}")

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def live_threads(self) -> int:
        return sum(t.is_alive() for t in self._threads)

    def _spawn(self, target, name: str, *args) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    # -- data path -------------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.stats.accepted += 1
            fault, *_ = self._mode()
            if fault is Fault.RESET:
                self.stats.reset += 1
                _reset_close(client)
                continue
            self._spawn(self._serve, f"faultproxy-conn-{self.stats.accepted}", client)

    def _serve(self, client: socket.socket) -> None:
        fault, *_ = self._mode()
        upstream: socket.socket | None = None
        if fault is not Fault.BLACKHOLE:
            try:
                upstream = socket.create_connection(self.upstream, timeout=2.0)
            except OSError:
                _reset_close(client)  # upstream down: the client sees what it would see without us
                return
        for sock in (client, upstream):
            if sock is not None:
                sock.settimeout(1.0)  # a peer that stops reading cannot block sendall past a bound
        try:
            self._pump(client, upstream)
        finally:
            client.close()
            if upstream is not None:
                upstream.close()

    def _pump(self, client: socket.socket, upstream: socket.socket | None) -> None:
        """Both directions of one connection, one select loop; returns when either side closes."""
        dead = upstream is None  # blackholed: read and drop forever
        if dead:
            self.stats.blackholed += 1
        cut_epoch, sent_since_switch = -1, 0
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ, "client")
            if upstream is not None:
                selector.register(upstream, selectors.EVENT_READ, "upstream")
            while not self._stop.is_set():
                events = selector.select(TICK)
                fault, delay_s, cut_bytes, epoch = self._mode()
                if fault is Fault.RESET and not dead:
                    self.stats.reset += 1
                    _reset_close_pair(client, upstream)
                    return
                for key, _ in events:
                    source = key.fileobj
                    try:
                        data = source.recv(CHUNK)
                    except OSError:
                        return
                    if not data:
                        return
                    if dead or fault is Fault.BLACKHOLE:
                        if not dead:
                            dead = True
                            self.stats.blackholed += 1
                        continue
                    if fault is Fault.DELAY and delay_s > 0:
                        self.stats.delayed_chunks += 1
                        if self._stop.wait(delay_s):
                            return
                    target = upstream if key.data == "client" else client
                    if fault is Fault.CUT and key.data == "upstream":
                        if cut_epoch != epoch:
                            cut_epoch, sent_since_switch = epoch, 0
                        allowed = max(0, cut_bytes - sent_since_switch)
                        if len(data) >= allowed:
                            self._send(target, data[:allowed])
                            self.stats.cut += 1
                            return
                        sent_since_switch += len(data)
                    if not self._send(target, data):
                        return

    def _send(self, target: socket.socket, data: bytes) -> bool:
        try:
            target.sendall(data)
        except OSError:
            return False
        self.stats.forwarded_bytes += len(data)
        return True


def _reset_close_pair(client: socket.socket, upstream: socket.socket | None) -> None:
    _reset_close(client)
    if upstream is not None:
        _reset_close(upstream)
