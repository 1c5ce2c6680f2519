"""Time the response sanitizer on a 10 MiB text body with a few secrets.

Run from the repository root: ``python -m tools.bench.sanitize_bench``. Prints
one line per case (best of several runs); it asserts nothing.
"""

from __future__ import annotations

import base64
import random
import string
import time
from collections.abc import Callable
from functools import partial

from app.proxy.sanitize import HAVE_AUTOMATON, MAX_SCAN_BYTES, Sanitizer

SECRETS = [
    ("stripe", "sk_live_51HqL2xEXAMPLEexampleEXAMPLE0000"),
    ("github", "ghp_EXAMPLE0123456789abcdefEXAMPLE01"),
    ("basic.password", "correct horse/battery+staple"),
]
RUNS = 5


def _body(with_secrets: bool) -> bytes:
    rng = random.Random(7)  # noqa: S311 -- filler text, not a secret
    alphabet = string.ascii_letters + string.digits + ' ,.:{}"\n'
    text = "".join(rng.choices(alphabet, k=MAX_SCAN_BYTES - 4096))
    if with_secrets:
        inserts = [secret for _, secret in SECRETS]
        inserts += [base64.b64encode(secret.encode()).decode() for _, secret in SECRETS]
        step = len(text) // (len(inserts) + 1)
        for i, insert in enumerate(inserts, start=1):
            text = text[: i * step] + insert + text[i * step :]
    return text.encode()[:MAX_SCAN_BYTES]


def _escaped_body() -> bytes:
    """Escape-heavy JSON (HTML in strings), the worst case for the decoded layers."""
    line = '{"html":"<a href=\\"/x?a=1&amp;b=2\\">caf\\u00e9 50%25</a>","pad":"' + "x" * 20 + '"}\n'
    return (line * (MAX_SCAN_BYTES // len(line))).encode()


def _best(action: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(RUNS):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> None:
    build = _best(lambda: Sanitizer.for_secrets(SECRETS))
    print(f"build sanitizer ({len(SECRETS)} secrets): {build:.2f} ms")
    for automaton in (True, False):
        if automaton and not HAVE_AUTOMATON:
            print("aho-corasick: not installed, skipped")
            continue
        sanitizer = Sanitizer.for_secrets(SECRETS, use_automaton=automaton)
        name = "aho-corasick" if automaton else "bytes.find fallback"
        for with_secrets in (False, True):
            body = _body(with_secrets)
            ms = _best(partial(sanitizer.redact_body, body, "application/json"))
            label = "with 6 occurrences" if with_secrets else "no occurrences"
            print(f"{name}: {len(body) / 2**20:.1f} MiB text body, {label}: {ms:.1f} ms")
        escaped = _escaped_body()
        ms = _best(partial(sanitizer.redact_body, escaped, "application/json"))
        print(
            f"{name}: {len(escaped) / 2**20:.1f} MiB JSON with an escape every ~64 bytes: {ms:.1f} ms"
        )


if __name__ == "__main__":
    main()
