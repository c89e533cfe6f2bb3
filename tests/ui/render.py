"""Render ``ui/template.html`` the way BunkerWeb does, and wrap it for standalone viewing.

BunkerWeb (src/ui/app/routes/plugins.py, ``custom_plugin_page``) reads template.html, refuses the old
``{% extends "base.html" %}`` format, and renders it with a *fresh* Jinja environment: a FileSystemLoader
on the plugin's ui/ folder (plus its own templates), ``select_autoescape(["html"])`` and the template
compiled ``from_string`` (so autoescaping is on), with ``pre_render`` = ``{"status", "code", "data"}`` and
the app's Jinja globals (``csrf_token``, ``script_nonce``…). The fragment is then placed in its layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

ROOT = Path(__file__).resolve().parents[2]
UI_DIR = ROOT / "ui"
CSRF_TOKEN = "csrf-token-for-tests"
APP_GLOBALS = {"csrf_token": lambda: CSRF_TOKEN, "script_nonce": "nonce-for-tests"}


def wrap(data: Any, status: str = "ok") -> dict[str, Any]:
    """What BunkerWeb's run_action makes of pre_render's return value."""
    if status == "ok":
        return {"status": "ok", "code": 200, "data": data}
    return {"status": "ko", "code": 500, "message": "An error occurred while executing the plugin, see logs for more details"}


def render(pre_render: dict[str, Any], with_app_globals: bool = True) -> str:
    source = (UI_DIR / "template.html").read_text(encoding="utf-8")
    if source.startswith('{% extends "base.html" %}'):
        raise AssertionError("BunkerWeb replaces templates in the old extends-base format with a warning")
    environment = Environment(loader=FileSystemLoader((f"{UI_DIR}/",)), autoescape=select_autoescape(["html"]))
    template = environment.from_string(source)
    return template.render(pre_render=pre_render, **(APP_GLOBALS if with_app_globals else {}))


PROBE = """<script>
window.addEventListener("load", function () {
  function seen(el) {
    if (!el) { return null; }
    var box = el.getBoundingClientRect(), style = getComputedStyle(el);
    return {text: el.textContent.trim(), width: box.width, height: box.height, top: box.top,
            visible: box.width > 0 && box.height > 0 && style.visibility !== "hidden" && style.display !== "none" && style.opacity !== "0",
            color: style.color};
  }
  var card = document.querySelector(".rs-card");
  var reference = document.createElement("span");  // what "green" computes to on this page and theme
  reference.className = "rs-badge rs-badge-ok";
  document.getElementById("redissync-page").appendChild(reference);
  var green = [getComputedStyle(reference).color, getComputedStyle(reference).backgroundColor];
  reference.remove();
  function greenInside(el) {
    return Array.prototype.some.call(el.querySelectorAll("*"), function (child) {
      var style = getComputedStyle(child);
      return child.getBoundingClientRect().width > 0 && (style.color === green[0] || style.backgroundColor === green[1]);
    });
  }
  var probe = {
    sentence: seen(document.getElementById("redissync-health-sentence")),
    banner: seen(document.getElementById("redissync-health")),
    cardBackground: card ? getComputedStyle(card).backgroundColor : null,
    overflowX: document.documentElement.scrollWidth - window.innerWidth,
    sparklines: document.querySelectorAll("svg.rs-spark polyline").length,
    title: seen(document.querySelector("#redissync-health h3")),
    bannerBackground: getComputedStyle(document.getElementById("redissync-health")).backgroundColor,
    stale: Array.prototype.map.call(document.querySelectorAll(".rs-card-stale"), function (el) {
      var note = el.querySelector("[data-redissync-stale]");
      return {label: el.getAttribute("aria-label"), note: seen(note), green: greenInside(el),
              border: getComputedStyle(el).borderTopStyle};
    }),
    jobs: Array.prototype.map.call(document.querySelectorAll("[aria-label='Last job runs'] tbody tr"), function (row) {
      return {text: row.textContent.trim(), green: greenInside(row)};
    }),
    scripts: Array.prototype.map.call(document.scripts, function (s) { return s.src; }).filter(Boolean)
  };
  var out = document.createElement("pre");
  out.id = "redissync-probe"; out.hidden = true; out.textContent = JSON.stringify(probe);
  document.body.appendChild(out);
});
</script>"""


def standalone(fragment: str, theme: str = "light", title: str = "redissync", probe: bool = False) -> str:
    """A tiny page around the fragment: BunkerWeb's theme class on <html>, a neutral body; with ``probe``,
    a test-only script records what the browser laid out (visibility, colours, overflow) in the DOM."""
    html_class = {"light": "light-style", "dark": "dark-style", "auto": ""}[theme]
    background = {"light": "#f5f6fa", "dark": "#141824", "auto": "Canvas"}[theme]
    return (
        f'<!doctype html>\n<html lang="en" class="{html_class}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>body{{margin:0;padding:24px;background:{background};"
        "font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif;color-scheme:light dark}"
        "@media (max-width:560px){body{padding:10px}}</style></head>"
        f"<body>\n{fragment}\n{PROBE if probe else ''}</body></html>\n"
    )
