"""What an attacker does to an audit file: edit, delete, insert or swap lines (1-based)."""

from __future__ import annotations

import json


def edit(lines: list[str], at: int) -> list[str]:
    """Line ``at`` with its target changed, the rest of it (its hash too) untouched."""
    out = list(lines)
    entry = json.loads(out[at - 1])
    entry["target_url"] = "https://attacker.example/innocent"
    out[at - 1] = json.dumps(entry, separators=(",", ":"))
    return out


def delete(lines: list[str], at: int) -> list[str]:
    return lines[: at - 1] + lines[at:]


def insert(lines: list[str], at: int, line: str) -> list[str]:
    """``line`` becomes line ``at``."""
    return [*lines[: at - 1], line, *lines[at - 1 :]]


def swap(lines: list[str], at: int) -> list[str]:
    """Lines ``at`` and ``at + 1`` change places."""
    out = list(lines)
    out[at - 1], out[at] = out[at], out[at - 1]
    return out
