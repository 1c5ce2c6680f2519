"""Sample TAP's workers with py-spy under load and rank the frames.

``py-spy record --format raw`` writes collapsed stacks, one per line:
``outer (file:line);...;leaf (file:line) <count>``. :func:`top_frames`
aggregates them per function (line numbers dropped): *self* counts a
function when it is the leaf of a sample, *inclusive* when it appears
anywhere in the stack (once per sample).

Example::

    >>> top_frames("a (x.py:1);b (y.py:2) 3\\na (x.py:1) 1\\n", 1).inclusive
    [('a (x.py)', 100.0)]
"""

from __future__ import annotations

import re
import subprocess
import sysconfig
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

_LINE: Final = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
# ``--subprocesses`` adds root frames naming each process and its command line,
# which may itself contain ';'. It is dropped: it says nothing about the code.
_PROCESS_FRAME: Final = re.compile(r'^(?:process \d+:".*?";)+')
_FRAME: Final = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
_STDLIB: Final = sysconfig.get_paths()["stdlib"].rstrip("/") + "/"
_ROOT: Final = str(Path.cwd()).rstrip("/") + "/"


# Frames every sample of a worker passes through (process start-up, the event
# loop's entry point); listing them as "inclusive 85%" tells a reader nothing.
_BOILERPLATE: Final = (
    "(multiprocessing/",
    "(asyncio/runners.py)",
    "(hypercorn/asyncio/run.py)",
    "(<string>)",
    "(threading.py)",
)


def is_boilerplate(name: str) -> bool:
    """True for start-up and event-loop frames that sit under every sample."""
    return any(marker in name for marker in _BOILERPLATE)


@dataclass(frozen=True, slots=True)
class Profile:
    samples: int
    self_pct: list[tuple[str, float]]
    inclusive: list[tuple[str, float]]

    def to_json(self) -> dict[str, Any]:
        return {"samples": self.samples, "self": self.self_pct, "inclusive": self.inclusive}


def _relative(path: str) -> str:
    # py-spy already names most files by module path; absolute ones are cut so
    # that no machine path reaches a report.
    if not path.startswith("/"):
        return path
    cut = path.rfind("site-packages/")
    if cut >= 0:
        return path[cut + len("site-packages/") :]
    if path.startswith(_ROOT):
        return path[len(_ROOT) :]
    if path.startswith(_STDLIB):
        return "stdlib/" + path[len(_STDLIB) :]
    return path.rsplit("/", 1)[-1]


def _short(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    return f"{match['func']} ({_relative(match['file'])})"


def top_frames(raw: str, limit: int) -> Profile:
    """Rank the functions of py-spy ``raw`` output by self and inclusive share of samples."""
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        match = _LINE.match(line.strip())
        if match is None:
            continue
        count = int(match["count"])
        stack = _PROCESS_FRAME.sub("", match["stack"], count=1)
        frames = [_short(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            anywhere[frame] += count
    if total == 0:
        return Profile(0, [], [])

    def ranked(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(limit)]

    return Profile(total, ranked(own), ranked(anywhere))


def record(py_spy: Path, pid: int, *, seconds: int, out: Path) -> str:
    """Sample ``pid`` and its subprocesses for ``seconds``; returns the raw stacks."""
    argv = [
        str(py_spy),
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--nonblocking",
        "--rate",
        "250",
        "--duration",
        str(seconds),
        "--format",
        "raw",
        "--output",
        str(out),
    ]
    subprocess.run(  # noqa: S603 -- fixed argv
        argv, capture_output=True, text=True, timeout=seconds + 60, check=True
    )
    return out.read_text()
