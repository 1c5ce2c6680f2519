"""``tap logs``: the last audit records from the JSONL audit file, with why each was refused.

The file is ``--log-file``, else ``TAP_AUDIT_LOG``, else ``audit.jsonl`` in the
project folder (where ``make run`` writes it).
"""

from __future__ import annotations

import json
import sys
from collections import deque
from pathlib import Path
from typing import Any, Final

import click

from tools.cli.errors import EXIT_FAILURE, exit_on_error
from tools.cli.render import emit_json
from tools.cli.run import settings

CHECKPOINT_LINE: Final = '{"checkpoint":'


def _line(r: dict[str, Any]) -> str:
    creds = ",".join(r.get("credential_names") or []) or "-"
    text = (
        f"{r.get('timestamp', '?')}  {r.get('agent_id', '?')}  {r.get('method', '?')} "
        f"{r.get('target_url', '?')}  creds={creds}  outcome={r.get('outcome', '?')}"
        f"  upstream={r.get('upstream_status') or '-'}  approval={r.get('approval_status') or '-'}"
    )
    if r.get("error"):
        text += f"  reason={r['error']}"
    if r.get("policy_reason"):
        text += f"  policy={r['policy_reason']}"
    if r.get("approver_identity"):
        text += f"  decided_by={r['approver_identity']}"
    return text


@click.command("logs")
@click.option(
    "-l", "--log-file", type=click.Path(path_type=Path), help="Audit log (default: TAP_AUDIT_LOG)."
)
@click.option("-t", "--tail", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def logs(log_file: Path | None, tail: int, as_json: bool) -> None:
    """Show the last audit records and why each request was refused."""
    with exit_on_error():
        path = log_file or settings().config.audit_log
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            # Checkpoint lines sign the chain; they are not records.
            lines = deque(
                (line for line in handle if not line.startswith(CHECKPOINT_LINE)), maxlen=tail
            )
    except OSError as exc:
        click.echo(f"error: cannot read {path}: {(exc.strerror or 'unreadable').lower()}", err=True)
        sys.exit(EXIT_FAILURE)
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    if as_json:
        emit_json(records)
        return
    for record in records:
        click.echo(_line(record))
