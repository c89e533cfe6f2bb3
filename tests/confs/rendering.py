"""The harness's rendering (harness/rendering.py) with what the options should be, by the Python twin
(luaopts.py, a test oracle: never in the harness)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import rendering
from tests.confs.luaopts import lua_options


class Rendered(rendering.Rendered):
    @property
    def expected(self) -> dict[str, Any]:
        return lua_options(self.settings)


def render_case(env: dict[str, str], directory: Path, core_dir: Path | None = None) -> Rendered:
    """:func:`harness.rendering.render_case`, with the expected options."""
    return with_expected(rendering.render_case(env, directory, core_dir))


def with_expected(rendered: rendering.Rendered) -> Rendered:
    return Rendered(**vars(rendered))
