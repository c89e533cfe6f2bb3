"""A real nginx running redissync.lua through the stand-ins of BunkerWeb's Lua (``lua/``), with our http/
snippets rendered for one settings environment."""

from __future__ import annotations

from pathlib import Path

from harness import ROOT
from harness.nginx import Nginx
from harness.rendering import Rendered, render_case

STANDINS = Path(__file__).parent / "lua"
SERVER = """
    location = /bans { default_type application/json; return 200 '{"status":"success","msg":""}'; }
    location /redissync/ { default_type application/json; access_by_lua_block { require("standin.harness").api() } }
    location = /standin/options { content_by_lua_block { require("standin.harness").options() } }
    location = /standin/recorded { content_by_lua_block { require("standin.harness").recorded() } }
    location = /standin/server_of { client_body_buffer_size 64k; content_by_lua_block { require("standin.harness").server_of() } }
"""


def plugin_nginx(prefix: Path, env: dict[str, str], core_dir: Path | None = None, http: tuple[str, ...] = ()) -> tuple[Nginx, Rendered]:
    """nginx (not started) running redissync.lua through the stand-ins, with ``env`` rendered into its http/."""
    rendered = render_case(env, prefix / "http", core_dir)
    server = Nginx(
        prefix=prefix,
        lua_paths=[STANDINS],
        plugins={"redissync": ROOT},
        server=SERVER,
        http="\n".join([
            "  lua_shared_dict datastore 1m;",  # BunkerWeb's datastore (the jobs' figures live there)
            '  init_worker_by_lua_block { require("standin.harness").init_worker() }',
            *http,
        ]),
    )
    return server, rendered
