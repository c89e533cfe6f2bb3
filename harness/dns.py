"""A tiny authoritative DNS responder on loopback UDP, so a real nginx ``resolver`` can resolve test
names (ngx_lua cosockets resolve hostnames only through nginx's resolver, never /etc/hosts)."""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass, field

TYPE_A = 1


@dataclass
class DNSResponder:
    """Answers A queries from ``records`` (name → IPv4); other types get an empty answer, unknown names NXDOMAIN."""

    records: dict[str, str]
    port: int = 0
    queries: list[str] = field(default_factory=list)

    def start(self) -> DNSResponder:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="dns-responder", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                packet, peer = self._sock.recvfrom(512)
            except TimeoutError:
                continue
            except OSError:
                return
            answer = self._answer(packet)
            if answer:
                self._sock.sendto(answer, peer)

    def _answer(self, packet: bytes) -> bytes | None:
        if len(packet) < 12:
            return None
        ident, _flags, qdcount = struct.unpack("!HHH", packet[:6])
        if qdcount != 1:
            return None
        labels, offset = [], 12
        while packet[offset]:
            length = packet[offset]
            labels.append(packet[offset + 1:offset + 1 + length].decode("ascii", "replace"))
            offset += 1 + length
        question_end = offset + 5
        qtype = struct.unpack("!H", packet[offset + 1:offset + 3])[0]
        name = ".".join(labels).lower()
        self.queries.append(name)
        question = packet[12:question_end]
        address = self.records.get(name)
        if address is None:
            return struct.pack("!HHHHHH", ident, 0x8183, 1, 0, 0, 0) + question  # NXDOMAIN
        if qtype != TYPE_A:
            return struct.pack("!HHHHHH", ident, 0x8180, 1, 0, 0, 0) + question
        record = b"\xc0\x0c" + struct.pack("!HHIH", TYPE_A, 1, 60, 4) + socket.inet_aton(address)
        return struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0) + question + record
