"""Scrub injected secrets out of upstream responses (body and headers).

A :class:`Sanitizer` is built once per request from the ``(label, secret)``
pairs that were injected. It replaces every occurrence of every secret, in each
of these forms, with ``[REDACTED:label]``:

* exact text, in any ASCII letter case (the whole scan ignores case, so a
  secret upper-cased by an upstream and hex in either case are found too);
* standard base64 and base64url, padded and unpadded, and the three
  alignments a secret can have inside longer base64 text (the characters that
  depend only on the secret's own bits); base32 (RFC 4648) the same way, at
  each of its five alignments;
* hexadecimal of its UTF-8 bytes;
* percent-encoding: ``quote``, ``quote_plus``, ``quote`` keeping ``/`` and
  ``encodeURIComponent`` (every other mix, such as every byte encoded, is
  found in the decoded layers below);
* JSON string escaping: ``json.dumps`` with and without ``ensure_ascii``,
  ``\\/`` and HTML-safe ``\\u003c``-style escapes (and, through the decoded
  layers, any character escaped as ``\\uXXXX``);
* UTF-16 and UTF-32 text in either byte order (and base64 in UTF-16);
* **any mix and nesting of escapes**: the body is also scanned in decoded
  layers (:mod:`app.proxy.unescape`: HTML/XML character references and
  entities, JSON/JavaScript escapes, percent-escapes, up to
  :data:`MAX_UNESCAPE_ROUNDS` levels deep, so ``&#x73;k_live``,
  double-JSON-escaped and double-percent-encoded forms are found); a match
  there replaces the escapes that produced it.

All forms of all secrets are found in one pass over each layer (an
Aho-Corasick automaton from ``ahocorasick_rs`` when it is installed; otherwise
a per-needle ``bytes.find`` fallback that gives the same result, only slower).
Overlapping matches are merged, so two secrets that overlap leave no fragment
behind.

A body that is not UTF-8 text is scanned as raw bytes and as every readable
copy :mod:`app.proxy.body_views` can make of it (other charsets, byte-order
marks, gzip/bzip2/xz files, zip archives); a secret in any of them
**withholds** the body (replaced by a short JSON notice). A body that cannot
be scanned at all is **unscannable** and withheld as well, unless the caller
allows unscannable responses (a per-credential opt-out for binary downloads,
recorded in the audit):

* larger than :data:`MAX_SCAN_BYTES`;
* a ``Content-Encoding`` TAP could not undo (:mod:`app.proxy.decode`);
* an unknown or wrong charset, or an archive that cannot be opened.

NOTE: secrets shorter than :data:`MIN_ENCODED_SECRET_CHARS` are redacted in
their exact form only. Their encoded forms are two or three characters long and
would match ordinary base64 and percent-encoded text everywhere, corrupting
responses without protecting anything an agent could not guess.

Usage::

    sanitizer = Sanitizer.for_secrets(injection.injected)
    result = sanitizer.redact_body(body, response_content_type)
    headers, changed = sanitizer.redact_headers(response_headers)
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import logging
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import quote, quote_plus

from app.proxy.body_views import views_of
from app.proxy.context import ForwardContext
from app.proxy.unescape import Layer, unescape

logger = logging.getLogger(__name__)

MAX_SCAN_BYTES: Final = 10 * 1024 * 1024
"""Bodies larger than this are not scanned; with secrets in play they are withheld."""

MAX_UNESCAPE_ROUNDS: Final = 3
"""Decoded layers scanned below the body itself (escaped, double-, triple-escaped)."""

MIN_ENCODED_SECRET_CHARS: Final = 4
"""Shorter secrets are redacted in their exact form only (see the module docstring)."""

WITHHELD_CONTENT_TYPE: Final = "application/json"
"""Content type to send with a withheld body."""

WITHHELD_BODY: Final = (
    b'{"error":"response_withheld","message":"The upstream response contains a credential '
    b"value where it cannot be redacted, or could not be scanned for one (too large, an "
    b'unknown encoding or charset, an archive that cannot be opened), so TAP withheld it."}'
)

_WITHHELD_DROP_HEADERS: Final = frozenset(
    {"content-type", "content-encoding", "content-disposition"}
)
SCAN_WINDOW_BYTES: Final = 256 * 1024
"""A long haystack is lower-cased and scanned this many bytes at a time.

Lower-casing a 10 MiB body at once allocates a second 10 MiB buffer, whose
fresh pages cost more than the lower-casing itself; a window this size is
reused from the allocator's free lists and stays in the CPU cache for the
automaton that scans it next.
"""
_PERCENT_HEX: Final = re.compile(r"%[0-9A-F]{2}")
_JSON_HEX: Final = re.compile(r"\\u([0-9a-f]{4})")


@dataclass(frozen=True, slots=True)
class SanitizedBody:
    """A response body after scrubbing."""

    body: bytes
    sanitized: bool
    """Something was replaced, or the body was withheld (for the audit record)."""
    withheld: bool
    """The body is :data:`WITHHELD_BODY`; send it as :data:`WITHHELD_CONTENT_TYPE`."""
    unscannable: str | None = None
    """Why the body could not be scanned (for the audit record); ``None`` when it was."""
    unscannable_allowed: bool = False
    """The unscannable body was passed on because the caller allowed it."""


class _Matcher(Protocol):
    def find(self, haystack: bytes) -> list[tuple[int, int, int]]:
        """All ``(needle index, start, end)`` matches, overlapping ones included."""
        ...


class Sanitizer:
    """Finds and replaces every form of a fixed set of secrets."""

    __slots__ = ("_labels", "_longest", "_markers", "_matcher", "_needles", "_prefixes")

    def __init__(self, needles: dict[bytes, str], *, use_automaton: bool = True) -> None:
        """Build from ``{needle bytes: label}``; prefer :meth:`for_secrets`.

        Needles are matched ignoring ASCII case: each is lower-cased here and
        every haystack is lower-cased (``bytes.lower`` keeps offsets).
        """
        folded: dict[bytes, str] = {}
        for needle, label in needles.items():
            folded.setdefault(needle.lower(), label)
        self._needles = tuple(folded)
        self._labels = tuple(folded.values())
        self._markers = {label: f"[REDACTED:{label}]".encode() for label in set(self._labels)}
        self._matcher: _Matcher | None = None
        self._prefixes: frozenset[bytes] | None = None
        self._longest = max((len(n) for n in self._needles), default=0)
        if self._needles:
            self._matcher = _make_matcher(self._needles, use_automaton=use_automaton)

    @classmethod
    def for_secrets(
        cls, pairs: Sequence[tuple[str, str]], *, use_automaton: bool = True
    ) -> Sanitizer:
        """A sanitizer for ``(label, secret)`` pairs; empty secrets are ignored.

        When two pairs produce the same needle the first label wins, so pass
        whole values before their fields if that matters for the marker.
        """
        needles: dict[bytes, str] = {}
        for label, secret in pairs:
            for needle in needles_for(secret):
                needles.setdefault(needle, label)
        return cls(needles, use_automaton=use_automaton)

    @property
    def empty(self) -> bool:
        """Whether there is nothing to look for."""
        return self._matcher is None

    def redact_body(
        self,
        body: bytes,
        content_type: str | None,
        *,
        allow_unscannable: bool = False,
        unscannable: str | None = None,
    ) -> SanitizedBody:
        """Scrub ``body`` (see the module docstring for when it is withheld). Never raises.

        ``unscannable`` says the caller already knows the body cannot be
        decoded (a ``Content-Encoding`` it could not undo); ``allow_unscannable``
        passes such bodies on instead of withholding them.
        """
        if self._matcher is None or not body:
            return SanitizedBody(body, sanitized=False, withheld=False)
        if len(body) > MAX_SCAN_BYTES:
            logger.info("response body of %d bytes withheld: too large to scan", len(body))
            return _withheld("larger than the scan limit")
        views = views_of(body, content_type)
        matches = self._find(body)
        if views.in_place and unscannable is None:
            if not matches:
                return SanitizedBody(body, sanitized=False, withheld=False)
            return SanitizedBody(self._replace(body, matches), sanitized=True, withheld=False)
        if matches or any(self._find(copy) for copy in views.copies):
            logger.info("response body withheld: a credential form is in a non-text body")
            return _withheld(None)
        reason = unscannable or views.unscannable
        if reason is None:
            return SanitizedBody(body, sanitized=False, withheld=False)
        if allow_unscannable:
            logger.info("unscannable response body passed on under the opt-out: %s", reason)
            return SanitizedBody(
                body, sanitized=False, withheld=False, unscannable=reason, unscannable_allowed=True
            )
        logger.info("response body withheld: %s", reason)
        return _withheld(reason)

    def find(self, data: bytes) -> list[tuple[int, int, int]]:
        """Every ``(needle index, start, end)`` match in ``data`` itself (no decoded layers)."""
        if self._matcher is None:
            return []
        return self._find_folded(data)

    def replace(self, data: bytes, matches: list[tuple[int, int, int]]) -> bytes:
        """``data`` with every span in ``matches`` (merged where they overlap) marked."""
        if not matches:
            return data
        return self._replace(data, list(matches))

    @property
    def longest_needle(self) -> int:
        """Length in bytes of the longest form looked for (0 when empty)."""
        return self._longest

    def is_needle_prefix(self, data: bytes) -> bool:
        """Whether ``data`` (any ASCII case) is a proper start of some form looked for.

        The streaming scrubber holds back a tail that passes this test: more
        bytes could complete it. The set of prefixes is built on first use.
        """
        if self._prefixes is None:
            self._prefixes = frozenset(
                needle[:i] for needle in self._needles for i in range(1, len(needle))
            )
        return data.lower() in self._prefixes

    def redact_headers(
        self, headers: Iterable[tuple[str, str]]
    ) -> tuple[list[tuple[str, str]], bool]:
        """Scrub header names and values; also says whether anything changed."""
        out: list[tuple[str, str]] = []
        changed = False
        for name, value in headers:
            new_name, name_changed = self.redact_text(name)
            new_value, value_changed = self.redact_text(value)
            out.append((new_name, new_value))
            changed = changed or name_changed or value_changed
        return out, changed

    def redact_text(self, text: str) -> tuple[str, bool]:
        """Scrub one string (a header, a log field); also says whether it changed."""
        if self._matcher is None or not text:
            return text, False
        data = text.encode("utf-8", "surrogateescape")
        matches = self._find(data)
        if not matches:
            return text, False
        return self._replace(data, matches).decode("utf-8", "surrogateescape"), True

    def find_in_layers(self, data: bytes, layers: Sequence[Layer]) -> list[tuple[int, int, int]]:
        """Matches in ``data`` and in its ``layers`` (:func:`decoded_layers`), as spans of ``data``."""
        matches = self._find_folded(data)
        for depth, layer in enumerate(layers):
            for index, start, end in self._find_folded(layer.data):
                for below in reversed(layers[: depth + 1]):
                    start, end = below.source_span(start, end)
                matches.append((index, start, end))
        return matches

    def _find_folded(self, data: bytes) -> list[tuple[int, int, int]]:
        """Every match in ``data`` ignoring ASCII case, scanned window by window.

        Each window is :data:`SCAN_WINDOW_BYTES` of its own plus the longest
        needle less one byte of the next, so a match that starts in a window
        ends inside it; a match is kept by the window it starts in, so none is
        lost at a boundary and none is reported twice.
        """
        assert self._matcher is not None
        overlap = self._longest - 1
        if len(data) <= SCAN_WINDOW_BYTES + overlap:
            return self._matcher.find(data.lower())
        matches: list[tuple[int, int, int]] = []
        for offset in range(0, len(data), SCAN_WINDOW_BYTES):
            window = data[offset : offset + SCAN_WINDOW_BYTES + overlap].lower()
            matches.extend(
                (index, offset + start, offset + end)
                for index, start, end in self._matcher.find(window)
                if start < SCAN_WINDOW_BYTES
            )
        return matches

    def _find(self, data: bytes) -> list[tuple[int, int, int]]:
        """Matches in ``data`` and in its decoded layers, as spans of ``data``."""
        return self.find_in_layers(data, decoded_layers(data))

    def _replace(self, data: bytes, matches: list[tuple[int, int, int]]) -> bytes:
        # Merge overlapping matches; the earliest (then longest) names the span.
        matches.sort(key=lambda m: (m[1], -m[2]))
        pieces: list[bytes] = []
        cursor = 0
        span_start, span_end, span_label = -1, -1, ""
        for index, start, end in matches:
            if start < span_end:
                span_end = max(span_end, end)
                continue
            if span_end >= 0:
                pieces.append(data[cursor:span_start])
                pieces.append(self._markers[span_label])
                cursor = span_end
            span_start, span_end, span_label = start, end, self._labels[index]
        pieces.append(data[cursor:span_start])
        pieces.append(self._markers[span_label])
        pieces.append(data[span_end:])
        return b"".join(pieces)


def decoded_layers(data: bytes) -> list[Layer]:
    """The decoded layers of ``data`` the sanitizer scans, shallowest first."""
    layers: list[Layer] = []
    layer_data = data
    for _ in range(MAX_UNESCAPE_ROUNDS):
        layer = unescape(layer_data)
        if layer is None:
            break
        layers.append(layer)
        layer_data = layer.data
    return layers


def credential_secret_pairs(
    name: str, raw_value: str, public_fields: Collection[str] = ()
) -> list[tuple[str, str]]:
    """The pairs to scrub for a whole stored value.

    The raw value as ``name`` first, then, for a JSON object, each string
    member as ``name.field`` (sorted by field), so fields that were never
    injected are scrubbed too. ``public_fields`` are the fields its kind
    declares public (a region, a service name, a client id): scrubbing
    ``us-east-1`` or ``s3`` out of every answer would only mangle it.
    """
    pairs = [(name, raw_value)]
    if raw_value.lstrip().startswith("{"):
        try:
            loaded = json.loads(raw_value)
        except (ValueError, RecursionError):
            loaded = None
        if isinstance(loaded, dict):
            pairs.extend(
                (f"{name}.{key}", value)
                for key, value in sorted(loaded.items())
                if isinstance(value, str) and value and key not in public_fields
            )
    return pairs


def needles_for(secret: str) -> list[bytes]:
    """Every byte string that counts as an occurrence of ``secret``."""
    if not secret:
        return []
    forms = {secret}
    if len(secret) >= MIN_ENCODED_SECRET_CHARS:
        forms |= _base64_forms(secret)
        forms |= _base32_forms(secret)
        forms |= _percent_forms(secret)
        forms |= _json_forms(secret)
        forms.add(_utf8(secret).hex())
    needles = {form.encode("utf-8", "surrogatepass") for form in forms}
    # UTF-16 and UTF-32 text in either byte order, for bodies that are not UTF-8.
    for form in (secret, base64.b64encode(_utf8(secret)).decode("ascii")):
        for codec in ("utf-16-le", "utf-16-be"):
            needles.add(form.encode(codec, "surrogatepass"))
    for codec in ("utf-32-le", "utf-32-be"):
        needles.add(secret.encode(codec, "surrogatepass"))
    return sorted(needles, key=lambda n: (-len(n), n))


# -- internals -----------------------------------------------------------------------


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _base64_forms(secret: str) -> set[str]:
    raw = _utf8(secret)
    forms: set[str] = set()
    padded = base64.b64encode(raw).decode("ascii")
    forms.update((padded, padded.rstrip("=")))
    # Inside longer base64 the secret starts at byte offset 0, 1 or 2 of a
    # 3-byte group; keep the characters whose 6 bits all come from the secret.
    for align in range(3):
        encoded = base64.b64encode(b"\0" * align + raw).decode("ascii")
        first = -(-8 * align // 6)
        last = (8 * (align + len(raw))) // 6
        core = encoded[first:last]
        if len(core) >= MIN_ENCODED_SECRET_CHARS:
            forms.add(core)
    forms |= {form.replace("+", "-").replace("/", "_") for form in forms}
    return forms


def _base32_forms(secret: str) -> set[str]:
    raw = _utf8(secret)
    forms: set[str] = set()
    padded = base64.b32encode(raw).decode("ascii")
    forms.update((padded, padded.rstrip("=")))
    # As for base64: a secret inside longer base32 starts at byte 0..4 of
    # a 5-byte group; keep the characters whose 5 bits all come from it.
    for align in range(5):
        encoded = base64.b32encode(b"\0" * align + raw).decode("ascii")
        first = -(-8 * align // 5)
        last = (8 * (align + len(raw))) // 5
        core = encoded[first:last]
        if len(core) >= MIN_ENCODED_SECRET_CHARS:
            forms.add(core)
    return forms


def _percent_forms(secret: str) -> set[str]:
    raw = _utf8(secret)
    upper = {
        quote(raw, safe=""),
        quote(raw, safe="/"),
        quote(raw, safe="!'()*~"),
        quote_plus(raw, safe=""),
    }
    lower = {_PERCENT_HEX.sub(lambda m: m.group(0).lower(), form) for form in upper}
    return upper | lower


def _json_forms(secret: str) -> set[str]:
    forms: set[str] = set()
    for ensure_ascii in (True, False):
        inner = json.dumps(secret, ensure_ascii=ensure_ascii)[1:-1]
        forms.update((inner, inner.replace("/", "\\/")))
    ascii_inner = json.dumps(secret)[1:-1]
    html_safe = ascii_inner
    for char in "<>&'=":
        html_safe = html_safe.replace(char, f"\\u{ord(char):04x}")
    forms.add(html_safe)
    forms |= {_JSON_HEX.sub(lambda m: "\\u" + m.group(1).upper(), form) for form in forms}
    return forms


class _AutomatonMatcher:
    """One pass over the haystack with an Aho-Corasick automaton (Rust).

    A leftmost-longest automaton (cheap to build, ~2 ms per 10 MiB) answers
    "is anything there?". It holds only needles that contain no other needle
    (every full form contains a shorter one, such as its base64 core), which
    keeps it small enough for the library's SIMD prefilter. Only when something is, a second automaton reports
    every match, overlapping ones included, for the replacement.
    """

    def __init__(self, needles: Sequence[bytes]) -> None:
        import ahocorasick_rs  # type: ignore[import-not-found, unused-ignore]

        self._module = ahocorasick_rs
        self._needles = needles
        self._detector = ahocorasick_rs.BytesAhoCorasick(
            _minimal(needles),
            matchkind=ahocorasick_rs.MatchKind.LeftmostLongest,
            implementation=ahocorasick_rs.Implementation.ContiguousNFA,
        )
        self._overlapping: ahocorasick_rs.BytesAhoCorasick | None = None

    def find(self, haystack: bytes) -> list[tuple[int, int, int]]:
        if not self._detector.find_matches_as_indexes(haystack):
            return []
        if self._overlapping is None:
            self._overlapping = self._module.BytesAhoCorasick(self._needles)
        matches: list[tuple[int, int, int]] = self._overlapping.find_matches_as_indexes(
            haystack, overlapping=True
        )
        return matches


def _minimal(needles: Sequence[bytes]) -> list[bytes]:
    """The needles that contain no other needle: any match implies a match of one of these."""
    kept: list[bytes] = []
    for needle in sorted(needles, key=len):
        if not any(shorter in needle for shorter in kept):
            kept.append(needle)
    return kept


class _FindMatcher:
    """Standard-library fallback: ``bytes.find`` per needle, same results."""

    def __init__(self, needles: Sequence[bytes]) -> None:
        self._needles = tuple(needles)
        self._minimal = tuple(_minimal(needles))

    def find(self, haystack: bytes) -> list[tuple[int, int, int]]:
        if not any(needle in haystack for needle in self._minimal):
            return []
        matches: list[tuple[int, int, int]] = []
        for index, needle in enumerate(self._needles):
            start = haystack.find(needle)
            while start >= 0:
                matches.append((index, start, start + len(needle)))
                start = haystack.find(needle, start + 1)
        return matches


HAVE_AUTOMATON: Final = importlib.util.find_spec("ahocorasick_rs") is not None
"""Whether the fast one-pass matcher is available (``ahocorasick-rs``)."""

if not HAVE_AUTOMATON:
    logger.warning("ahocorasick-rs is not installed; response scanning uses the slower path")


def _make_matcher(needles: Sequence[bytes], *, use_automaton: bool) -> _Matcher:
    if use_automaton and HAVE_AUTOMATON:
        return _AutomatonMatcher(needles)
    return _FindMatcher(needles)


def _withheld(reason: str | None) -> SanitizedBody:
    return SanitizedBody(WITHHELD_BODY, sanitized=True, withheld=True, unscannable=reason)


def _cached_sanitizer(ctx: ForwardContext) -> Sanitizer:
    # Keyed by a digest of the pairs, so the cache's keys are not the secrets themselves.
    digest = hashlib.sha256(json.dumps(ctx.secrets).encode()).digest()
    sanitizer: Sanitizer | None = ctx.rt.sanitizers.get(digest)
    if sanitizer is None:
        sanitizer = Sanitizer.for_secrets(ctx.secrets)
        ctx.rt.sanitizers.put(digest, sanitizer)
    return sanitizer


async def run(ctx: ForwardContext) -> ForwardContext:
    """Pipeline stage: every encoding of every injected secret out of the response."""
    sanitizer = _cached_sanitizer(ctx)
    if ctx.upstream_stream is not None:
        # The body is scrubbed as it is relayed (app.proxy.routes); the headers are whole already.
        ctx.stream_sanitizer = sanitizer
        ctx.upstream_headers_out, ctx.response_sanitized = sanitizer.redact_headers(
            ctx.upstream_headers_out
        )
        return ctx
    if ctx.response_too_large:
        result = _withheld("larger than the scan limit")
    else:
        content_type = next(
            (v for k, v in ctx.upstream_headers_out if k.lower() == "content-type"), None
        )
        # NOTE: every credential in the request must allow it; one that does
        # not keeps the default (withhold).
        allow = bool(ctx.credentials) and all(
            c.allow_unscannable_responses for c in ctx.credentials
        )
        result = sanitizer.redact_body(
            ctx.upstream_body,
            content_type,
            allow_unscannable=allow,
            unscannable=ctx.upstream_unscannable,
        )
    headers, headers_changed = sanitizer.redact_headers(ctx.upstream_headers_out)
    if result.withheld:
        headers = [(k, v) for k, v in headers if k.lower() not in _WITHHELD_DROP_HEADERS]
        headers.append(("Content-Type", WITHHELD_CONTENT_TYPE))
    ctx.upstream_body = result.body
    ctx.upstream_headers_out = list(headers)
    ctx.response_sanitized = result.sanitized or headers_changed
    ctx.response_withheld = result.withheld
    ctx.response_unscannable = result.unscannable
    ctx.response_unscannable_allowed = result.unscannable_allowed
    return ctx
