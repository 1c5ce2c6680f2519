"""Undo compression so the sanitizer sees the bytes an agent will read.

Two callers need this: the forward stage undoes a response's whole
``Content-Encoding`` stack (``gzip, gzip`` is two layers, ``x-gzip`` is
gzip), and the sanitizer looks inside a body that *is* a compressed file
(``application/gzip``, a ``.bz2`` download). Both go through
:func:`inflate`, which never produces more than its ``limit`` bytes, so a
decompression bomb costs at most that much memory.

Anything that cannot be undone (an unknown coding, corrupt data, a format we
have no decoder for) is reported as :class:`Undecodable`; the caller treats
the body as unscannable and withholds it (see :mod:`app.proxy.sanitize`).

Usage::

    decoded = decode_content(raw, "gzip, br", limit=MAX_RESPONSE_BYTES)
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable
from typing import Final, Protocol

MAX_CODING_LAYERS: Final = 4
"""More ``Content-Encoding`` layers than this are not undone (nobody sends them)."""


class Undecodable(Exception):
    """The body could not be decoded. The message is safe to log and audit (no body bytes)."""


class TooLarge(Exception):
    """Decoding would produce more than the caller's limit."""


class _Decompressor(Protocol):
    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...

    @property
    def unused_data(self) -> bytes: ...

    @property
    def eof(self) -> bool: ...


ACCEPT_ENCODING: Final = "gzip, deflate"
"""What the forward stage offers upstream: codings :func:`decode_content` undoes.

NOTE: ``br`` and ``zstd`` are not offered: the bindings available give no cap
on output size, so an upstream could make TAP inflate gigabytes. An upstream
that sends them anyway gets its body treated as unscannable.
"""

_CODING_ALIASES: Final = {"x-gzip": "gzip", "x-deflate": "deflate"}


def decode_content(body: bytes, content_encoding: str, *, limit: int) -> bytes:
    """Undo every coding listed in ``Content-Encoding``, last applied first.

    Raises:
        Undecodable: an unknown coding, too many layers, or data that does not decode.
        TooLarge: a layer would grow past ``limit`` bytes.
    """
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    codings = [_CODING_ALIASES.get(c, c) for c in codings if c and c != "identity"]
    if len(codings) > MAX_CODING_LAYERS:
        raise Undecodable(f"content-encoding has more than {MAX_CODING_LAYERS} layers")
    for coding in reversed(codings):
        body = inflate(body, coding, limit=limit)
    return body


def inflate(data: bytes, fmt: str, *, limit: int) -> bytes:
    """Decompress ``data`` in one format: gzip, deflate (zlib or raw), bzip2 or xz.

    Concatenated gzip, bzip2 and xz members are all decompressed.

    Raises:
        Undecodable: the format is unknown or the data is corrupt or truncated.
        TooLarge: the output would exceed ``limit`` bytes.
    """
    try:
        if fmt == "gzip":
            return _members(data, lambda: zlib.decompressobj(16 + zlib.MAX_WBITS), limit, fmt)
        if fmt == "deflate":
            # NOTE: servers disagree on whether "deflate" has a zlib header; try both.
            try:
                return _members(data, lambda: zlib.decompressobj(zlib.MAX_WBITS), limit, fmt)
            except (Undecodable, zlib.error):
                return _members(data, lambda: zlib.decompressobj(-zlib.MAX_WBITS), limit, fmt)
        if fmt == "bzip2":
            return _members(data, bz2.BZ2Decompressor, limit, fmt)
        if fmt == "xz":
            return _members(data, lzma.LZMADecompressor, limit, fmt)
    except (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError) as exc:
        raise Undecodable(f"{fmt} data is corrupt") from exc
    raise Undecodable(f"no decoder for {fmt!r}")


# -- internals -----------------------------------------------------------------------


def _members(data: bytes, factory: Callable[[], _Decompressor], limit: int, fmt: str) -> bytes:
    out: list[bytes] = []
    size = 0
    rest = data
    while rest:
        decompressor = factory()
        chunk = decompressor.decompress(rest, limit + 1 - size)
        size += len(chunk)
        if size > limit:
            raise TooLarge(fmt)
        out.append(chunk)
        if not decompressor.eof:
            raise Undecodable(f"{fmt} data is truncated")
        rest = decompressor.unused_data
        if fmt == "deflate":
            # One deflate stream per body; trailing bytes are not another member.
            break
    return b"".join(out)


def decode_response(
    raw: bytes, content_encodings: list[str], *, limit: int
) -> tuple[bytes, bool, str | None]:
    """The forward stage's view of a response body: ``(body, too_large, undecodable)``.

    ``body`` is decoded when every coding could be undone, else left as
    received with ``undecodable`` saying why (for the audit record). Never raises.
    """
    header = ", ".join(content_encodings)
    if not header.strip():
        return raw, False, None
    try:
        return decode_content(raw, header, limit=limit), False, None
    except TooLarge:
        return b"", True, None
    except Undecodable as exc:
        return raw, False, f"content-encoding: {exc}"
