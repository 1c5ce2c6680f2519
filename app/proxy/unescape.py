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
MAX_ESCAPE_BYTES: Final = 34
"""The longest escape :data:`_ESCAPE` matches (``&`` + a 32-character entity name + ``;``)."""

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
_TRIGGER_BYTES: Final = frozenset(b"&\\%")
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

    def source_position(self, pos: int) -> int:
        """Where in ``source`` the bytes from ``data[pos]`` on come from (``pos`` may be the end).

        A position inside an escape's output maps to the start of that escape.
        """
        return self._source_start(pos)

    def data_position(self, source_pos: int) -> int:
        """How many bytes of ``data`` come from ``source[:source_pos]``.

        An escape that ``source_pos`` cuts through counts as not yet decoded.
        """
        out_starts, out_ends, src_starts, src_ends = self._escapes()
        i = bisect_right(src_starts, source_pos - 1) - 1
        if i < 0:
            return source_pos
        if source_pos < src_ends[i]:
            return out_starts[i]
        return out_ends[i] + (source_pos - src_ends[i])

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


def unsettled_from(data: bytes, end: int) -> int:
    """The first position of ``data[:end]`` whose decoding could change if bytes followed ``end``.

    Everything before it decodes the same whatever comes next (a stream that
    is still arriving); from it on, an escape may still be forming (``&#x7``,
    ``\\uD83D`` before its low surrogate, a trailing ``%4``). Returns ``end``
    when nothing is unsettled. Never raises.
    """
    lo = max(0, end - MAX_ESCAPE_BYTES)
    if not any(trigger in data[lo:end] for trigger in _TRIGGERS):
        return end
    tokens = {m.start(): m for m in _ESCAPE.finditer(data, 0, end) if m.end() > lo}
    covered_until = lo
    for straddling in tokens.values():
        if straddling.start() < lo:
            covered_until = straddling.end()
    for pos in range(covered_until, end):
        if data[pos] not in _TRIGGER_BYTES:
            continue
        token = tokens.get(pos)
        if token is not None:
            if not _token_settled(token, end):
                return pos
            covered_until = token.end()
        elif pos >= covered_until and not _literal_settled(data, pos, end):
            return pos
    return end


def _token_settled(token: re.Match[bytes], end: int) -> bool:
    text = token.group()
    if text.endswith(b";") or text[0] == ord("%"):
        return True
    if text[0] == ord("&"):
        # A numeric reference without ";": a following digit or ";" would extend it.
        return token.end() < end
    if text[1] == ord("u") and len(text) == 6 and text[2:3] in b"dD" and text[3:4] in b"89abAB":
        # A high surrogate alone: a low one may still follow and join it.
        return end - token.start() >= 12
    return True


def _literal_settled(data: bytes, pos: int, end: int) -> bool:
    """A trigger byte that starts no escape now: can later bytes make it one?"""
    rest = end - pos
    if rest >= MAX_ESCAPE_BYTES:
        return True
    first = data[pos]
    following = data[pos + 1 : end]
    if first == ord("%"):
        return rest >= 3
    if first == ord("\\"):
        if not following:
            return False
        needed = {ord("u"): 6, ord("x"): 4}.get(following[0], 2)
        return rest >= needed
    # "&": a reference or an entity name still being written?
    if not following:
        return False
    if following[0] == ord("#"):
        if len(following) < 2:
            return False
        if following[1:2] in b"xX":
            return len(following) >= 3
        return True
    if not chr(following[0]).isascii() or not chr(following[0]).isalpha():
        return True
    return not following.isalnum()


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
