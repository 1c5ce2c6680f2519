"""Which copies of a response body the sanitizer must scan, and what it cannot.

A body that is UTF-8 text is scanned and redacted where it stands. Any other
body is scanned as raw bytes *and* as every readable copy this module can
make of it; a secret found in any of them withholds the whole body:

* text declared in another charset (``charset=utf-32``, ``charset=cp500``
  for EBCDIC, ``latin-1``, ...) or marked by a UTF-16/UTF-32 byte-order mark
  is decoded to UTF-8;
* a compressed file (gzip, bzip2, xz by their magic bytes) is decompressed,
  and a zip archive (also ``.docx``, ``.jar``) is opened member by member, up
  to :data:`MAX_EXPANDED_BYTES` in all.

What cannot be looked into is reported as ``unscannable`` with a reason: an
unknown charset, text that does not decode in its declared charset, formats
without a decoder here (zstd, 7z, rar), an archive type whose bytes are not
that archive, encrypted or corrupt archives, and archives that expand past
the limit. The sanitizer withholds such bodies unless every credential in
the request allows unscannable responses (see :mod:`app.proxy.sanitize`).

Usage::

    views = views_of(body, "text/plain; charset=utf-32")
    views.in_place, views.copies, views.unscannable
"""

from __future__ import annotations

import io
import lzma
import zipfile
import zlib
from dataclasses import dataclass
from typing import Final

from app.proxy.decode import TooLarge, Undecodable, inflate

MAX_EXPANDED_BYTES: Final = 10 * 1024 * 1024
"""All decompressed copies of one body together stay under this."""

MAX_ARCHIVE_MEMBERS: Final = 1000
MAX_NESTING: Final = 3
"""A compressed file inside a compressed file is opened this many levels deep."""

_UTF8_CHARSETS: Final = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
_TEXT_TYPES: Final = frozenset(
    {
        "application/json",
        "application/xml",
        "application/javascript",
        "application/ecmascript",
        "application/x-www-form-urlencoded",
        "application/x-ndjson",
        "application/ndjson",
        "application/graphql",
        "application/yaml",
        "application/x-yaml",
        "application/sql",
        "application/csv",
        "application/jwt",
        "image/svg+xml",
    }
)
# Byte-order marks, longest first (the UTF-32 LE mark starts with the UTF-16 LE one).
_BOMS: Final = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_COMPRESSED_MAGIC: Final = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),  # and a block magic after the level digit: see _is_compressed
    (b"\xfd7zXZ\x00", "xz"),
)
_BZIP2_LEVELS: Final = frozenset(bytes((d,)) for d in b"123456789")
_BZIP2_BLOCKS: Final = frozenset({b"1AY&SY", b"\x17rE8P\x90"})
_ZIP_MAGIC: Final = (b"PK\x03\x04", b"PK\x05\x06")
_OPAQUE_MAGIC: Final = (
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
)
_ARCHIVE_TYPES: Final = frozenset(
    {
        "application/zip",
        "application/gzip",
        "application/x-gzip",
        "application/x-bzip2",
        "application/x-xz",
        "application/zstd",
        "application/x-7z-compressed",
        "application/vnd.rar",
        "application/x-rar-compressed",
        "application/java-archive",
        "application/x-compress",
    }
)


@dataclass(frozen=True, slots=True)
class BodyViews:
    """The result of :func:`views_of`."""

    in_place: bool
    """The body is UTF-8 text: secrets are replaced where they stand."""
    copies: tuple[bytes, ...]
    """Decoded or decompressed copies to scan as well; a secret in one withholds the body."""
    unscannable: str | None
    """Why (part of) the body could not be looked at; ``None`` when all of it could."""


def views_of(body: bytes, content_type: str | None) -> BodyViews:
    """Classify ``body`` for scanning (see the module docstring). Never raises."""
    mime, charset = _parse_content_type(content_type)
    copies: list[bytes] = []
    unscannable = _expand(body, mime, copies, depth=0)
    if unscannable is not None or copies:
        return BodyViews(False, tuple(copies), unscannable)
    # NOTE: a byte-order mark counts only where text may be: a binary type
    # that happens to start with FF FE is scanned as the binary it says it is.
    bom = None
    if mime is None or _textual(mime):
        bom = next((codec for mark, codec in _BOMS if body.startswith(mark)), None)
    if bom is not None or (charset is not None and charset not in _UTF8_CHARSETS):
        codec = bom or charset or ""
        try:
            text = body.decode(codec)
        except LookupError:
            return BodyViews(False, (), f"unknown charset {codec[:40]!r}")
        except UnicodeDecodeError:
            return BodyViews(False, (), f"body is not valid {codec[:40]}")
        return BodyViews(False, (text.encode("utf-8", "surrogatepass"),), None)
    return BodyViews(_is_utf8_text(body, mime), (), None)


STREAM_SNIFF_BYTES: Final = 10
"""Bytes :func:`streams_in_place` needs to see: the longest magic it looks for."""


def streams_in_place(content_type: str | None, start: bytes) -> bool:
    """Whether a body that declares ``content_type`` and starts with ``start`` is UTF-8 text.

    A streamed body is scrubbed where it stands, as a buffered UTF-8 body is;
    one that declares another charset, or starts with a byte-order mark or the
    magic of a compressed file or archive, is not, and must be read whole and
    scanned as :func:`views_of` says. Pass at least :data:`STREAM_SNIFF_BYTES`
    bytes (fewer only when the body is shorter). Never raises.
    """
    mime, charset = _parse_content_type(content_type)
    if mime is None or not _textual(mime):
        return False
    if charset is not None and charset not in _UTF8_CHARSETS:
        return False
    if any(start.startswith(mark) for mark, _ in _BOMS):
        return False
    if start.startswith(_ZIP_MAGIC) or any(start.startswith(m) for m, _ in _OPAQUE_MAGIC):
        return False
    return not any(_is_compressed(start, magic, fmt) for magic, fmt in _COMPRESSED_MAGIC)


# -- internals -----------------------------------------------------------------------


def _parse_content_type(content_type: str | None) -> tuple[str | None, str | None]:
    if not content_type:
        return None, None
    mime, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return mime.strip().lower(), charset


def _textual(mime: str) -> bool:
    return mime.startswith("text/") or mime in _TEXT_TYPES or mime.endswith(("+json", "+xml"))


def _is_utf8_text(body: bytes, mime: str | None) -> bool:
    if mime is not None and not _textual(mime):
        return False
    if b"\x00" in body:
        # NOTE: NUL bytes mean UTF-16/32 or a binary format that happens to
        # decode; redacting in place would corrupt it, so it is withheld.
        return False
    if body.isascii():
        return True
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _expand(data: bytes, mime: str | None, copies: list[bytes], depth: int) -> str | None:
    """Append decompressed copies of ``data`` (if it is compressed) to ``copies``.

    Returns why something could not be expanded, or ``None``.
    """
    for magic, name in _OPAQUE_MAGIC:
        if data.startswith(magic):
            return f"{name} data cannot be scanned"
    budget = MAX_EXPANDED_BYTES - sum(len(c) for c in copies)
    if depth >= MAX_NESTING:
        compressed = any(_is_compressed(data, m, f) for m, f in _COMPRESSED_MAGIC)
        if compressed or data.startswith(_ZIP_MAGIC):
            return "archive nested too deeply"
        return None
    for magic, fmt in _COMPRESSED_MAGIC:
        if _is_compressed(data, magic, fmt):
            try:
                inner = inflate(data, fmt, limit=budget)
            except TooLarge:
                return f"{fmt} data expands past the scan limit"
            except Undecodable as exc:
                return str(exc)
            copies.append(inner)
            return _expand(inner, None, copies, depth + 1)
    if data.startswith(_ZIP_MAGIC):
        return _expand_zip(data, copies, depth)
    if mime in _ARCHIVE_TYPES:
        return f"{mime} body is not an archive this proxy can open"
    return None


def _is_compressed(data: bytes, magic: bytes, fmt: str) -> bool:
    if not data.startswith(magic):
        return False
    if fmt == "bzip2":
        # "BZh" alone starts ordinary text too; a level digit and a block
        # (or end-of-stream) magic follow in a real bzip2 stream.
        return data[3:4] in _BZIP2_LEVELS and data[4:10] in _BZIP2_BLOCKS
    return True


def _expand_zip(data: bytes, copies: list[bytes], depth: int) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if len(members) > MAX_ARCHIVE_MEMBERS:
                return f"zip archive has more than {MAX_ARCHIVE_MEMBERS} members"
            for member in members:
                if member.flag_bits & 0x1:
                    return "zip archive is encrypted"
                budget = MAX_EXPANDED_BYTES - sum(len(c) for c in copies)
                with archive.open(member) as stream:
                    # NOTE: read one byte past the budget instead of trusting the
                    # declared size, which an attacker writes.
                    content = stream.read(budget + 1)
                if len(content) > budget:
                    return "zip archive expands past the scan limit"
                copies.append(content)
                problem = _expand(content, None, copies, depth + 1)
                if problem is not None:
                    return problem
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,
        OSError,
        EOFError,
        zlib.error,
        lzma.LZMAError,
    ):
        return "zip archive is corrupt or uses an unsupported method"
    except (ValueError, RuntimeError):
        return "zip archive cannot be read"
    return None
