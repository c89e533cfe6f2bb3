"""A real nginx with Debian's Lua module, on a random loopback port with its own prefix.

The test owns nginx.conf (what BunkerWeb's http.conf would set: lua_package_path,
lua_ssl_trusted_certificate, resolver, init_worker_by_lua) and includes the rendered http/*.conf snippets
like BunkerWeb does. Started with ``-g 'daemon off;'``, stopped at teardown, never left behind.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .servers import _LIVE, START_TIMEOUT, free_port, wait_until

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
MODULES = Path("/usr/lib/nginx/modules")
LUA_MODULES = (MODULES / "ndk_http_module.so", MODULES / "ngx_http_lua_module.so")
RESTY_CORE_PATH = "/usr/share/lua/5.1/?.lua"
_GROUPS: set[int] = set()


@atexit.register
def _kill_leftover_groups() -> None:
    """Safety net: a master and its workers share one process group; kill what a crash left."""
    for group in list(_GROUPS):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)


def missing() -> str | None:
    """Why nginx tests cannot run here, or None."""
    if not Path(NGINX).exists():
        return f"nginx not found ({NGINX}); install Debian's nginx-core"
    for module in LUA_MODULES:
        if not module.exists():
            return f"{module} missing; install libnginx-mod-http-lua"
    if not Path("/usr/share/lua/5.1/resty/core.lua").exists():
        return "lua-resty-core missing; install lua-resty-core"
    return None


@dataclass
class Nginx:
    """``prefix/`` holds nginx.conf, http/ (rendered snippets), plugins/ and logs/."""

    prefix: Path
    lua_paths: list[Path]
    server: str  # the body of the test's server{} block
    http: str = ""  # extra http{} directives (trusted CA, resolver, init_worker_by_lua_block)
    plugins: dict[str, Path] = field(default_factory=dict)  # plugin id → folder (require "<id>/<id>")
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def conf_path(self) -> Path:
        return self.prefix / "nginx.conf"

    @property
    def error_log(self) -> Path:
        return self.prefix / "logs" / "error.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _config(self) -> str:
        package_path = ";".join(
            [*(f"{path}/?.lua" for path in self.lua_paths), f"{self.prefix}/plugins/?.lua", RESTY_CORE_PATH, ";"]
        )
        temp = "\n".join(
            f"  {name}_temp_path {self.prefix}/tmp/{name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        return "\n".join([
            *(f"load_module {module};" for module in LUA_MODULES),
            # As root, workers would run as nobody and could not read the test's private temp dirs.
            "user root;" if os.geteuid() == 0 else "",
            "worker_processes 1;",
            f"pid {self.prefix}/logs/nginx.pid;",
            f"error_log {self.error_log} info;",
            "events { worker_connections 64; }",
            "http {",
            "  access_log off;",
            temp,
            f'  lua_package_path "{package_path}";',
            self.http,
            "  include http/*.conf;",
            "  server {",
            f"    listen 127.0.0.1:{self.port};",
            self.server,
            "  }",
            "}",
            "",
        ])

    def _prepare(self) -> None:
        for folder in ("logs", "http", "plugins", "tmp"):
            (self.prefix / folder).mkdir(parents=True, exist_ok=True)
        for plugin_id, folder in self.plugins.items():
            link = self.prefix / "plugins" / plugin_id
            if not link.exists():
                link.symlink_to(folder)
        self.conf_path.write_text(self._config())

    def _command(self, *extra: str) -> list[str]:
        return [NGINX, "-p", f"{self.prefix}/", "-c", str(self.conf_path), "-e", str(self.error_log), *extra]

    def test_config(self) -> subprocess.CompletedProcess:
        """``nginx -t``: parses nginx.conf and every included snippet (Lua code is compiled when run)."""
        if not self.port:
            self.port = free_port()
        self._prepare()
        return subprocess.run(self._command("-t"), capture_output=True, text=True, timeout=30)

    def start(self) -> Nginx:
        for attempt in range(3):
            if not self.port or attempt:
                self.port = free_port()
            self._prepare()
            self.process = subprocess.Popen(
                self._command("-g", "daemon off;"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                start_new_session=True,
            )
            _LIVE.add(self.process)
            _GROUPS.add(self.process.pid)
            try:
                wait_until(self._ready, START_TIMEOUT, f"an nginx worker to answer on port {self.port}")
                return self
            except AssertionError:
                if self.process.poll() is None:
                    raise
                stderr = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                self._reap()
                if "Address already in use" not in stderr:
                    raise AssertionError(f"nginx exited at start: {stderr.strip()}") from None
        raise AssertionError(f"nginx did not start; see {self.error_log}")

    def _ready(self) -> bool:
        """A worker answers HTTP (the master alone accepts connections but never replies)."""
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"nginx exited with {self.process.returncode}")
        emerg = [line for line in self.log_text().splitlines() if "[emerg]" in line]
        if emerg:
            raise AssertionError(f"nginx worker failed: {emerg[0]}")
        with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
            connection.settimeout(0.5)
            connection.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
            return connection.recv(12).startswith(b"HTTP/")

    def log_text(self) -> str:
        return self.error_log.read_text(errors="replace") if self.error_log.exists() else ""

    def _reap(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            with contextlib.suppress(ProcessLookupError):  # workers share the master's group
                os.killpg(self.process.pid, signal.SIGKILL)
            _GROUPS.discard(self.process.pid)
            if self.process.stderr:
                self.process.stderr.close()
            _LIVE.discard(self.process)
            self.process = None

    def stop(self) -> None:
        """Graceful QUIT, SIGKILL if the master does not exit within 10 s; workers exit with it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._reap()
