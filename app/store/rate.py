"""Per-agent rate counting in Postgres, so every replica sees the same count."""

from __future__ import annotations

from dataclasses import dataclass

from app.store.db import Queryable, translated


@dataclass(frozen=True, slots=True)
class RateDecision:
    admitted: bool
    used: int
    retry_after_secs: int


@translated
async def take(conn: Queryable, team_id: str, agent_id: str, limit: int) -> RateDecision:
    """Admit one request if the agent is under ``limit`` for the rolling hour (one round trip)."""
    row = await conn.fetchrow("SELECT * FROM tap_rate_take($1, $2, $3)", team_id, agent_id, limit)
    assert row is not None
    return RateDecision(
        admitted=row["admitted"], used=row["used"], retry_after_secs=row["retry_after_secs"]
    )
