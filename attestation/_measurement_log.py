"""The measurement log: an append-only JSONL transparency log of releases.

Each line is one release, newest last, written as canonical JSON (keys sorted,
no spaces, ASCII only) so that two honest writers produce the same bytes and a
later copy of the log must start with every byte of an earlier one.  Every
member is a string::

    cce_hostdata     64 lowercase hex: SHA-256 of the CCE policy text
    cce_policy       (optional) the ccePolicy exactly as deployed: standard
                     base64 of the policy text, so anyone can recompute
                     cce_hostdata
    cosign_identity  https URL of the CI workflow that signed the image
    deployed_at      UTC time, seconds precision: 2026-05-31T12:00:00Z
    environment      lowercase name: production, staging, ...
    git_sha          40 lowercase hex: the commit the image was built from
    image_digest     sha256:<64 lowercase hex>: the image manifest digest
    kek              <vault-name>/<key-name>[/<version>]: the key whose
                     release policy authorises cce_hostdata
    maa_endpoint     https origin of the attestation endpoint
    run_url          https URL of the CI run that deployed it

The checks ``verify_log`` runs, stopping at the first failure::

    (1) log.framing           UTF-8, every line ends with a newline, no blank line
    (2) line N.well-formed    a JSON object with exactly the members above, valid
    (3) line N.canonical      the line is the canonical form of its row
    (4) line N.order          deployed_at is not before the previous row's
    (5) line N.hostdata       when cce_policy is present, SHA-256 of its decoded
                              text is cce_hostdata
    (6) log.non-empty         at least one row
    (7) log.prefix            (when an earlier copy is given) the earlier copy's
                              bytes are a prefix of the log: no row was edited,
                              removed or reordered

``append_row`` runs (1) to (5) on the existing file, checks the new row's
order and hostdata the same way, and only then appends, under an exclusive
lock, without touching the existing bytes.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Final

from attestation._base64 import b64_decode
from attestation._checks import CheckRunner, Held, Report
from attestation._endpoint import Origin
from attestation._hostdata import hostdata_of_rego
from attestation._json import parse_object
from attestation._types import JSONObject, LogRowJSON
from attestation.errors import InputError, VerificationError

__all__ = ["DEPLOYED_AT_FORMAT", "LogRow", "MeasurementLog", "append_row", "verify_log"]

logger = logging.getLogger(__name__)

DEPLOYED_AT_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"
"""The one spelling of ``deployed_at``."""

_PATTERNS: Final = {
    "cce_hostdata": re.compile(r"[0-9a-f]{64}"),
    "cosign_identity": re.compile(r"https://[!-~]+"),
    "deployed_at": re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"),
    "environment": re.compile(r"[a-z0-9][a-z0-9-]{0,62}"),
    "git_sha": re.compile(r"[0-9a-f]{40}"),
    "image_digest": re.compile(r"sha256:[0-9a-f]{64}"),
    "kek": re.compile(r"[A-Za-z0-9-]+/[A-Za-z0-9-]+(?:/[0-9a-f]{32})?"),
    "maa_endpoint": re.compile(r"https://[!-~]+"),
    "run_url": re.compile(r"https://[!-~]+"),
}


@dataclass(frozen=True, slots=True)
class LogRow:
    """One release.  The constructor validates every field.

    Raises:
        InputError: on construction, naming the first invalid field.
    """

    cce_hostdata: str
    cosign_identity: str
    deployed_at: str
    environment: str
    git_sha: str
    image_digest: str
    kek: str
    maa_endpoint: str
    run_url: str
    cce_policy: str | None = None

    def __post_init__(self) -> None:
        for name, pattern in _PATTERNS.items():
            value = getattr(self, name)
            if not isinstance(value, str) or pattern.fullmatch(value) is None:
                raise InputError(f"log row: {name} is not valid: {value!r}")
        try:
            datetime.strptime(self.deployed_at, DEPLOYED_AT_FORMAT)
        except ValueError as exc:
            raise InputError(f"log row: deployed_at is not a real time: {exc}") from exc
        if Origin.parse(self.maa_endpoint).url != self.maa_endpoint:
            raise InputError(
                f"log row: maa_endpoint is not a canonical origin: {self.maa_endpoint!r}"
            )
        if self.cce_policy is not None:
            try:
                b64_decode(self.cce_policy)
            except ValueError as exc:
                raise InputError(f"log row: cce_policy is not standard base64 ({exc})") from exc

    @classmethod
    def from_json(cls, obj: JSONObject) -> LogRow:
        """Build a row from a parsed JSON object with exactly the row's members.

        Raises:
            InputError: a member is missing, unknown, not a string, or invalid.
        """
        names = {field.name for field in fields(cls)}
        required = names - {"cce_policy"}
        if missing := required - set(obj):
            raise InputError(f"log row: missing {sorted(missing)}")
        if unknown := set(obj) - names:
            raise InputError(f"log row: unknown members {sorted(unknown)}")
        values: dict[str, str] = {}
        for key, value in obj.items():
            if not isinstance(value, str):
                raise InputError(f"log row: {key} must be a string")
            values[key] = value
        return cls(**values)

    @property
    def deployed(self) -> datetime:
        """``deployed_at`` as an aware UTC datetime."""
        return datetime.strptime(self.deployed_at, DEPLOYED_AT_FORMAT).replace(tzinfo=UTC)

    @property
    def policy_text(self) -> bytes | None:
        """The decoded policy text, when the row carries it."""
        return None if self.cce_policy is None else b64_decode(self.cce_policy)

    def to_json(self) -> LogRowJSON:
        """Return the row as its JSON object (``cce_policy`` only when present)."""
        row: LogRowJSON = {
            "cce_hostdata": self.cce_hostdata,
            "cosign_identity": self.cosign_identity,
            "deployed_at": self.deployed_at,
            "environment": self.environment,
            "git_sha": self.git_sha,
            "image_digest": self.image_digest,
            "kek": self.kek,
            "maa_endpoint": self.maa_endpoint,
            "run_url": self.run_url,
        }
        if self.cce_policy is not None:
            row["cce_policy"] = self.cce_policy
        return row

    def to_line(self) -> bytes:
        """Return the canonical line for this row, newline included."""
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return text.encode("ascii") + b"\n"


@dataclass(frozen=True, slots=True)
class MeasurementLog:
    """The rows of a verified log, oldest first."""

    rows: tuple[LogRow, ...]

    def rows_for(self, git_sha: str, environment: str | None) -> tuple[LogRow, ...]:
        """Return the rows for ``git_sha`` (in ``environment`` when given), oldest first."""
        return tuple(
            row
            for row in self.rows
            if row.git_sha == git_sha and (environment is None or row.environment == environment)
        )


# -- the checks ----------------------------------------------------------------


def _check_framing(data: bytes) -> Held[list[bytes]]:
    name, expected = "log.framing", "UTF-8 lines, each ending in a newline, none blank"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VerificationError(
            name, expected=expected, actual=f"invalid UTF-8 at byte {exc.start}"
        ) from exc
    if data and not data.endswith(b"\n"):
        raise VerificationError(name, expected=expected, actual="a last line without newline")
    lines = data.split(b"\n")[:-1] if data else []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise VerificationError(name, expected=expected, actual=f"line {number} is blank")
    return Held(name, expected, f"{len(lines)} lines", lines)


def _check_well_formed(number: int, line: bytes) -> Held[LogRow]:
    name, expected = f"line {number}.well-formed", "a valid measurement-log row"
    try:
        row = LogRow.from_json(parse_object(line))
    except ValueError as exc:
        raise VerificationError(name, expected=expected, actual=str(exc)) from exc
    except InputError as exc:
        raise VerificationError(name, expected=expected, actual=exc.message) from exc
    return Held(name, expected, f"{row.environment} {row.git_sha[:12]}", row)


def _check_canonical(number: int, line: bytes, row: LogRow) -> Held[None]:
    name, expected = f"line {number}.canonical", "sorted keys, no spaces, ASCII"
    if line + b"\n" != row.to_line():
        raise VerificationError(name, expected=expected, actual="another spelling of the row")
    return Held(name, expected, "canonical", None)


def _check_order(name: str, row: LogRow, previous: LogRow | None) -> Held[None]:
    if previous is None:
        return Held(name, "not before the previous row", f"{row.deployed_at} (first row)", None)
    expected = f"not before {previous.deployed_at}"
    if row.deployed < previous.deployed:
        raise VerificationError(name, expected=expected, actual=row.deployed_at)
    return Held(name, expected, row.deployed_at, None)


def _check_hostdata(name: str, row: LogRow) -> Held[None]:
    text = row.policy_text
    if text is None:
        return Held(name, "recomputed when the policy is published", "no policy published", None)
    computed = hostdata_of_rego(text)
    if computed != row.cce_hostdata:
        raise VerificationError(name, expected=row.cce_hostdata, actual=computed)
    return Held(name, row.cce_hostdata, computed, None)


def _check_non_empty(rows: list[LogRow]) -> Held[None]:
    if not rows:
        raise VerificationError("log.non-empty", expected="at least one row", actual="no rows")
    return Held("log.non-empty", "at least one row", f"{len(rows)} rows", None)


def _check_prefix(data: bytes, earlier: bytes) -> Held[None]:
    name, expected = "log.prefix", f"the earlier copy's {len(earlier)} bytes unchanged"
    if not data.startswith(earlier):
        common = next(
            (i for i, (a, b) in enumerate(zip(data, earlier, strict=False)) if a != b),
            min(len(data), len(earlier)),
        )
        line = data[:common].count(b"\n") + 1
        raise VerificationError(name, expected=expected, actual=f"history differs at line {line}")
    return Held(name, expected, f"{len(data) - len(earlier)} bytes appended", None)


def _rows(data: bytes, checks: CheckRunner) -> list[LogRow]:
    lines = checks.run(lambda: _check_framing(data))  # (1)
    rows: list[LogRow] = []
    for number, line in enumerate(lines, start=1):
        row = checks.run(partial(_check_well_formed, number, line))  # (2)
        checks.run(partial(_check_canonical, number, line, row))  # (3)
        previous = rows[-1] if rows else None
        checks.run(partial(_check_order, f"line {number}.order", row, previous))  # (4)
        checks.run(partial(_check_hostdata, f"line {number}.hostdata", row))  # (5)
        rows.append(row)
    return rows


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read log {path}: {exc.strerror}") from exc


def verify_log(path: Path, *, earlier: Path | None = None) -> tuple[MeasurementLog, Report]:
    """Verify the log at ``path``; with ``earlier``, also that it extends that copy.

    Raises:
        InputError: a file is unreadable.
        VerificationError: a check failed; ``check`` names it.
    """
    data = _read(path)
    earlier_data = _read(earlier) if earlier is not None else None
    checks = CheckRunner()
    rows = _rows(data, checks)
    checks.run(lambda: _check_non_empty(rows))  # (6)
    if earlier_data is not None:
        checks.run(lambda: _check_prefix(data, earlier_data))  # (7)
    logger.debug("log verified: %d rows", len(rows))
    return MeasurementLog(tuple(rows)), checks.report()


def _checked_write(handle: int, row: LogRow, checks: CheckRunner) -> None:
    os.lseek(handle, 0, os.SEEK_SET)
    chunks: list[bytes] = []
    while chunk := os.read(handle, 1 << 16):
        chunks.append(chunk)
    rows = _rows(b"".join(chunks), checks)
    previous = rows[-1] if rows else None
    checks.run(lambda: _check_order("append.order", row, previous))
    checks.run(lambda: _check_hostdata("append.hostdata", row))
    # NOTE: O_APPEND writes land after the bytes just verified; nothing earlier moves.
    line = row.to_line()
    written = os.write(handle, line)
    if written != len(line):
        raise InputError(f"short write to the log ({written} of {len(line)} bytes)")
    os.fsync(handle)


def append_row(path: Path, row: LogRow) -> Report:
    """Append ``row`` to the log at ``path`` (created when absent).

    The existing content is verified first and left byte-for-byte untouched.

    Raises:
        InputError: the file cannot be opened, read or written.
        VerificationError: the existing log does not verify, the row is
            older than the last row (``append.order``), or its policy does not
            hash to its hostdata (``append.hostdata``).
    """
    try:
        handle = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise InputError(f"cannot open log {path}: {exc.strerror}") from exc
    checks = CheckRunner()
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        _checked_write(handle, row, checks)
    except OSError as exc:
        raise InputError(f"cannot update log {path}: {exc.strerror}") from exc
    finally:
        os.close(handle)
    logger.debug("appended a %s row to the log", row.environment)
    return checks.report()
