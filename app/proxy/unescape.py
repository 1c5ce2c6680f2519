"""Decoded copies of a body, each able to point back at the bytes it came from.

A secret can reach a response with some or all of its characters escaped, in
any mix: ``&#x73;k_live``, ``s\\u006b_live``, ``%2573k_live`` (percent-encoded
twice), a JSON string escaped inside another JSON string. Listing every mix as
a needle is impossible, so the sanitizer also scans *decoded layers* of the
body: :func:`unescape` undoes one level of every escape it knows, and keeps,
for each escape, where its output sits and which source bytes produced it.
A match found in a layer is mapped back with :meth:`Layer.source_span` to the
exact bytes to replace in the body (whole escapes, never half of one).

Escapes undone in one layer:

* HTML/XML character references: ``&#65;``, ``&#x41;`` (any case, ``;``
  optional) and every named HTML5 entity (``&amp;``, ``&sol;``);
* JSON and JavaScript string escapes: ``\\uXXXX`` (surrogate pairs joined),
  ``\\xXX``, ``\\"``, ``\\\\``, ``\\/``, ``\\b \\f \\n \\r \\t``;
* percent-escapes ``%XX``.

Usage::

    layer = unescape(body)          # None when there is nothing to undo
    if layer is not None:
        start, end = layer.source_span(10, 20)
"""

from __future__ import annotations

import re
from bisect import bisect_right
from html.entities import html5
from typing import Final

_ESCAPE: Final = re.compile(
    rb"&#[0-9]{1,8};?"
    rb"|&#[xX][0-9a-fA-F]{1,8};?"
    rb"|&[A-Za-z][A-Za-z0-9]{1,31};"
    rb"|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    rb"|\\u[0-9a-fA-F]{4}"
    rb"|\\x[0-9a-fA-F]{2}"
    rb"|\\[\\/\"'bfnrt]"
    rb"|%[0-9a-fA-F]{2}"
)
_SIMPLE: Final = {
    ord("\\"): b"\\",
    ord("/"): b"/",
    ord('"'): b'"',
    ord("'"): b"'",
    ord("b"): b"\b",
    ord("f"): b"\f",
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
}
_TRIGGERS: Final = (b"&", b"\\", b"%")
_CACHE_ENTRIES: Final = 4096
# Escapes repeat (``\\"``, ``&amp;``); decoding each distinct one once saves most of the work.
_CACHE: dict[bytes, bytes] = {}


class Layer:
    """One level of escapes undone; ``data`` is the decoded copy of ``source``.

    The map back to ``source`` is built only when a span is asked for: most
    layers hold nothing and are never mapped.
    """

    __slots__ = ("_map", "data", "source")

    def __init__(self, data: bytes, source: bytes) -> None:
        self.data = data
        self.source = source
        self._map: tuple[list[int], list[int], list[int], list[int]] | None = None

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The bytes of ``source`` that produced ``data[start:end]`` (``end > start``)."""
        return self._source_start(start), self._source_end(end - 1)

    def _escapes(self) -> tuple[list[int], list[int], list[int], list[int]]:
        if self._map is None:
            out_starts: list[int] = []
            out_ends: list[int] = []
            src_starts: list[int] = []
            src_ends: list[int] = []
            size = 0
            cursor = 0
            for match in _ESCAPE.finditer(self.source):
                decoded = _decode(match.group())
                if decoded is None:
                    continue
                size += match.start() - cursor
                out_starts.append(size)
                size += len(decoded)
                out_ends.append(size)
                src_starts.append(match.start())
                src_ends.append(match.end())
                cursor = match.end()
            self._map = (out_starts, out_ends, src_starts, src_ends)
        return self._map

    def _source_start(self, pos: int) -> int:
        out_starts, out_ends, src_starts, src_ends = self._escapes()
        i = bisect_right(out_starts, pos) - 1
        if i < 0:
            return pos
        if pos < out_ends[i]:
            return src_starts[i]
        return src_ends[i] + (pos - out_ends[i])

    def _source_end(self, last: int) -> int:
        out_starts, out_ends, src_starts, src_ends = self._escapes()
        i = bisect_right(out_starts, last) - 1
        if i < 0:
            return last + 1
        if last < out_ends[i]:
            return src_ends[i]
        return src_ends[i] + (last + 1 - out_ends[i])


def unescape(data: bytes) -> Layer | None:
    """Undo one level of every known escape; ``None`` if there is none. Never raises."""
    if not any(trigger in data for trigger in _TRIGGERS):
        return None
    decoded = _ESCAPE.sub(_replacement, data)
    if decoded == data:
        return None
    return Layer(decoded, data)


def _replacement(match: re.Match[bytes]) -> bytes:
    escape = match.group()
    decoded = _CACHE.get(escape)
    if decoded is None:
        decoded = _decode(escape)
        if decoded is None:
            decoded = escape
        if len(_CACHE) < _CACHE_ENTRIES:
            _CACHE[escape] = decoded
    return decoded


def _decode(escape: bytes) -> bytes | None:
    first, second = escape[0], escape[1]
    if first == ord("%"):
        return bytes((int(escape[1:3], 16),))
    if first == ord("&"):
        if second == ord("#"):
            digits = escape[2:].rstrip(b";")
            base = 10
            if digits[:1] in (b"x", b"X"):
                digits, base = digits[1:], 16
            return _char(int(digits, base))
        value = html5.get(escape[1:].decode("ascii"))
        return value.encode("utf-8") if value is not None else None
    # A backslash escape.
    if second == ord("u"):
        if len(escape) == 12:
            high, low = int(escape[2:6], 16), int(escape[8:12], 16)
            return _char(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
        return chr(int(escape[2:6], 16)).encode("utf-8", "surrogatepass")
    if second == ord("x"):
        return bytes((int(escape[2:4], 16),))
    return _SIMPLE.get(second)


def _char(code: int) -> bytes | None:
    if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code).encode("utf-8")
