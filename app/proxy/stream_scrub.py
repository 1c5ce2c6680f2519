"""Scrub secrets out of a response that is passed on while it arrives.

A :class:`StreamScrubber` takes the body chunk by chunk and hands back what
may be sent now. It runs the same :class:`~app.proxy.sanitize.Sanitizer` as a
buffered body (every form of every secret, in the body and in its decoded
layers), over a sliding window: it holds back only the tail that could still
become part of a match when more bytes come, which is, in each decoded layer,

* the longest tail that is the start of some secret form (so never more than
  the longest form minus one byte), and
* an escape that may still be forming (``&#x7``, ``%2``, a lone high
  surrogate ``\\uD83D``), from which on the decoding could change,

each mapped back to the body's bytes. Everything before the earliest such
point is final: every match in it is complete and is redacted before it is
sent. Text without a partial secret form or a partial escape at its end is
sent whole at once, so a server-sent event reaches the agent when it arrives.

The window always starts where an escape starts or after one ends, so the
held bytes decode as they do inside the whole body; a secret split across
chunks at any byte is found as it would be in the whole body.

NOTE: a tail that keeps growing without settling (only an upstream crafting
one would send it) is not held forever: past :data:`MAX_HELD_BYTES`,
:meth:`feed` raises :class:`StreamCut` and the caller ends the stream there
(fail closed: the held bytes are never sent).

Usage::

    scrubber = StreamScrubber(sanitizer)
    for chunk in chunks:
        send(scrubber.feed(chunk))
    send(scrubber.finish())
    scrubber.sanitized  # something was redacted
"""

from __future__ import annotations

from typing import Final

from app.proxy.sanitize import Sanitizer, decoded_layers
from app.proxy.unescape import Layer, unsettled_from

MAX_HELD_BYTES: Final = 1024 * 1024
"""A held-back tail longer than this cuts the stream (no text needs it; an attack might)."""


class StreamCut(Exception):
    """The held tail grew too long to keep scanning; end the stream. Carries no body bytes."""


class StreamScrubber:
    """Redacts one streamed body; see the module docstring."""

    __slots__ = ("_held", "_sanitizer", "_window", "sanitized")

    def __init__(self, sanitizer: Sanitizer) -> None:
        self._sanitizer = sanitizer
        self._held = b""
        self._window = max(sanitizer.longest_needle - 1, 0)
        self.sanitized = False
        """Something in the stream was redacted (for the audit record)."""

    @property
    def held(self) -> int:
        """How many received bytes are not sent yet."""
        return len(self._held)

    def feed(self, chunk: bytes) -> bytes:
        """Take the next chunk; return the bytes that are final now.

        Raises:
            StreamCut: the held tail grew past :data:`MAX_HELD_BYTES`.
        """
        data = self._held + chunk if self._held else chunk
        if self._sanitizer.empty:
            return data
        layers = decoded_layers(data)
        out, cut = self._scrub(data, layers, self._safe_end(data, layers))
        self._held = data[cut:]
        if len(self._held) > MAX_HELD_BYTES:
            raise StreamCut("held tail too long")
        return out

    def finish(self) -> bytes:
        """The stream ended: return the rest, scrubbed."""
        data, self._held = self._held, b""
        if self._sanitizer.empty or not data:
            return data
        return self._scrub(data, decoded_layers(data), len(data))[0]

    def _scrub(self, data: bytes, layers: list[Layer], cut: int) -> tuple[bytes, int]:
        """``data[:cut]`` with its matches redacted, and the cut (moved back off any match)."""
        matches = self._sanitizer.find_in_layers(data, layers)
        # A complete match that straddles the cut stays whole in the held tail.
        moved = True
        while moved:
            moved = False
            for _, start, end in matches:
                if start < cut < end:
                    cut, moved = start, True
        final = [m for m in matches if m[2] <= cut]
        if final:
            self.sanitized = True
        return self._sanitizer.replace(data[:cut], final), cut

    def _safe_end(self, data: bytes, layers: list[Layer]) -> int:
        """The earliest position from which a match could still form, in ``data``'s bytes."""
        stable = unsettled_from(data, len(data))
        cut = self._partial_form_start(data, stable)
        for depth, layer in enumerate(layers):
            stable = unsettled_from(layer.data, layer.data_position(stable))
            candidate = self._partial_form_start(layer.data, stable)
            for below in reversed(layers[: depth + 1]):
                candidate = below.source_position(candidate)
            cut = min(cut, candidate)
        return cut

    def _partial_form_start(self, data: bytes, end: int) -> int:
        """Where the longest tail of ``data[:end]`` that starts a secret form begins (else ``end``)."""
        for start in range(max(0, end - self._window), end):
            if self._sanitizer.is_needle_prefix(data[start:end]):
                return start
        return end
