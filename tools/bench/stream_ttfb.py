"""Time to first byte of a server-sent-events stream, through TAP and direct.

An SSE upstream (:mod:`tools.bench.sse_upstream`) sends its first event at
once and then one every few milliseconds. Requests alternate between the
upstream itself and TAP's ``POST /forward`` (one at a time, so the figures
are latency, not load), and each records when the first body byte arrived
and when the last event did. TAP passes a stream on as it arrives
(:mod:`app.proxy.stream`), so both should trail direct by a similar margin;
a proxy that buffered the stream would trail by the whole stream's length.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import aiohttp

if TYPE_CHECKING:
    from tools.bench.run import Bench

SAMPLES: Final = 200
EVENTS: Final = 5
GAP_MS: Final = 20
TARGET_ADDED_P50_MS: Final = 5.0
"""The issue's bar: TAP's p50 time to first byte within this of direct's."""


@dataclass(frozen=True)
class Timings:
    ttfb_ms: list[float]
    last_ms: list[float]
    errors: int

    def to_json(self) -> dict[str, Any]:
        return {
            "samples": len(self.ttfb_ms),
            "errors": self.errors,
            "ttfb_p50_ms": _pct(self.ttfb_ms, 50),
            "ttfb_p90_ms": _pct(self.ttfb_ms, 90),
            "ttfb_p99_ms": _pct(self.ttfb_ms, 99),
            "last_event_p50_ms": _pct(self.last_ms, 50),
        }


def _pct(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(pct) - 1], 3)


async def _one(
    session: aiohttp.ClientSession, url: str, method: str, headers: dict[str, str]
) -> tuple[float, float] | None:
    started = time.perf_counter()
    async with session.request(method, url, headers=headers) as response:
        if response.status != 200:
            await response.read()
            return None
        first = await response.content.readany()
        ttfb = time.perf_counter() - started
        body = first + await response.content.read()
    last = time.perf_counter() - started
    if not body.endswith(b"data: [DONE]\n\n"):
        return None
    return ttfb * 1000, last * 1000


async def measure(
    *, direct_url: str, tap_url: str, tap_headers: dict[str, str], samples: int = SAMPLES
) -> dict[str, Any]:
    """Alternate direct and TAP requests; return both sides' timings as JSON."""
    query = f"/sse?events={EVENTS}&gap_ms={GAP_MS}"
    headers = {**tap_headers, "X-TAP-Target": direct_url + query, "X-TAP-Method": "GET"}
    sides: dict[str, tuple[list[float], list[float], list[int]]] = {
        "direct": ([], [], [0]),
        "tap": ([], [], [0]),
    }
    async with aiohttp.ClientSession() as session:
        for _ in range(5):  # warm both paths (connections, caches)
            await _one(session, direct_url + query, "GET", {})
            await _one(session, tap_url, "POST", headers)
        for _ in range(samples):
            for side, url, method, sent in (
                ("direct", direct_url + query, "GET", {}),
                ("tap", tap_url, "POST", headers),
            ):
                ttfb, last, errors = sides[side]
                try:
                    got = await _one(session, url, method, sent)
                except (aiohttp.ClientError, TimeoutError):
                    got = None
                if got is None:
                    errors[0] += 1
                else:
                    ttfb.append(got[0])
                    last.append(got[1])
    out: dict[str, Any] = {"events": EVENTS, "gap_ms": GAP_MS}
    for side, (ttfb, last, errors) in sides.items():
        out[side] = Timings(ttfb, last, errors[0]).to_json()
    direct_p50 = out["direct"]["ttfb_p50_ms"]
    tap_p50 = out["tap"]["ttfb_p50_ms"]
    if direct_p50 is not None and tap_p50 is not None:
        out["added_ttfb_p50_ms"] = round(tap_p50 - direct_p50, 3)
    return out


def run(bench: Bench, port: int) -> None:
    """The benchmark phase: start the SSE upstream, measure, store under ``stream``."""
    bench.start(
        "sse-upstream",
        [sys.executable, "-m", "tools.bench.sse_upstream", "--port", str(port)],
        ready_url=f"http://127.0.0.1:{port}/health",
    )
    tap = bench.targets["tap"]
    bench.results["stream"] = asyncio.run(
        measure(direct_url=f"http://127.0.0.1:{port}", tap_url=tap.url, tap_headers=tap.headers)
    )


def markdown(results: dict[str, Any]) -> list[str]:
    """The report's section for the stream measurement (empty when it did not run)."""
    stream = results.get("stream")
    if not stream:
        return []
    rows = ["| path | TTFB p50 / p90 / p99 ms | last event p50 ms | errors |", "|---|---|---|---|"]
    for side, name in (("direct", "direct (client -> SSE upstream)"), ("tap", "through TAP")):
        entry = stream[side]
        rows.append(
            f"| {name} | {_ms(entry['ttfb_p50_ms'])} / {_ms(entry['ttfb_p90_ms'])} / "
            f"{_ms(entry['ttfb_p99_ms'])} | {_ms(entry['last_event_p50_ms'])} | "
            f"{entry['errors']} |"
        )
    return [
        "## Streaming: server-sent events, time to first byte",
        "",
        *rows,
        "",
        f"{stream['direct']['samples']} streams each way, one at a time, alternating: the "
        f"upstream (`tools/bench/sse_upstream.py`) sends {stream['events']} events "
        f"{stream['gap_ms']} ms apart and a `[DONE]`; TTFB is the first body byte, the last "
        "event marks the stream's end. TAP relays the stream as it arrives, scrubbing over a "
        "sliding window (`app/proxy/stream.py`).",
        "",
    ]


def target(results: dict[str, Any]) -> tuple[str, str, bool | None]:
    """``(name, measured, met)`` for the report's target table."""
    added = (results.get("stream") or {}).get("added_ttfb_p50_ms")
    return (
        f"SSE time to first byte: p50 within {TARGET_ADDED_P50_MS:g} ms of direct",
        f"{_ms(added)} ms added",
        None if added is None else added <= TARGET_ADDED_P50_MS,
    )


def _ms(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2f}"
