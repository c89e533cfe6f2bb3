"""Read the Lua data literal our templates render (``return { ... }``) into Python values.

Covers what a rendered options file may hold: tables (array or record part), double-quoted strings with
escapes, integers, booleans; ``--`` line comments. Anything else is an error: the format stays simple.
"""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(
    r'\s+|--[^\n]*|(?P<str>"(?:[^"\\\n]|\\.)*")|(?P<num>-?[0-9]+(?:\.[0-9]+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)'
    r"|(?P<punct>[{}=,\[\]])"
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _unquote(literal: str) -> str:
    def escape(match: re.Match) -> str:
        body = match.group(1)
        return chr(int(body)) if body.isdigit() else _ESCAPES[body]

    return re.sub(r"\\([0-9]{1,3}|.)", escape, literal[1:-1])


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            raise ValueError(f"unexpected Lua text at {position}: {text[position:position + 20]!r}")
        position = match.end()
        if match.lastgroup:
            tokens.append((match.lastgroup, match.group(match.lastgroup)))
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens, self.index = tokens, 0

    def next(self) -> tuple[str, str]:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def peek(self, offset: int = 0) -> tuple[str, str]:
        return self.tokens[self.index + offset] if self.index + offset < len(self.tokens) else ("eof", "")

    def value(self) -> Any:
        kind, text = self.next()
        if kind == "str":
            return _unquote(text)
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "name" and text in ("true", "false", "nil"):
            return {"true": True, "false": False, "nil": None}[text]
        if (kind, text) == ("punct", "{"):
            return self.table()
        raise ValueError(f"unexpected token {text!r}")

    def table(self) -> Any:
        record: dict[str, Any] = {}
        array: list[Any] = []
        while self.peek() != ("punct", "}"):
            if self.peek()[0] == "name" and self.peek(1) == ("punct", "="):
                key = self.next()[1]
                self.next()
                record[key] = self.value()
            else:
                array.append(self.value())
            if self.peek() == ("punct", ","):
                self.next()
        self.next()
        if array and record:
            raise ValueError("mixed array/record tables are not part of the format")
        return array if array else record


def load(text: str) -> Any:
    """The value of ``return <literal>`` in ``text``."""
    tokens = _tokens(text)
    if not tokens or tokens[0] != ("name", "return"):
        raise ValueError("a rendered options file starts with 'return'")
    parser = _Parser(tokens[1:])
    value = parser.value()
    if parser.peek()[0] != "eof":
        raise ValueError("text after the returned value")
    return value
