"""Web push subscriptions: one browser of one person in one team, keyed by its endpoint."""

from __future__ import annotations

from dataclasses import dataclass

from app.store.db import Conn


@dataclass(frozen=True, slots=True)
class PushSubscription:
    endpoint: str
    team_id: str
    user_id: str
    p256dh: str
    auth: str

    def __repr__(self) -> str:
        # NOTE: the endpoint is a capability (anyone holding it can push); keep it out of logs.
        return f"PushSubscription(team_id={self.team_id!r}, user_id={self.user_id!r})"


async def upsert(
    conn: Conn, *, endpoint: str, team_id: str, user_id: str, p256dh: str, auth: str
) -> None:
    """Save a subscription; an endpoint seen before moves to this person and team."""
    await conn.execute(
        "INSERT INTO push_subscriptions (endpoint, team_id, user_id, p256dh, auth)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (endpoint) DO UPDATE SET"
        " team_id = EXCLUDED.team_id, user_id = EXCLUDED.user_id, p256dh = EXCLUDED.p256dh,"
        " auth = EXCLUDED.auth, created_at = now()",
        endpoint,
        team_id,
        user_id,
        p256dh,
        auth,
    )


async def delete_own(conn: Conn, *, endpoint: str, user_id: str) -> bool:
    status = await conn.execute(
        "DELETE FROM push_subscriptions WHERE endpoint = $1 AND user_id = $2", endpoint, user_id
    )
    return status != "DELETE 0"


async def forget(conn: Conn, endpoint: str) -> None:
    """Drop a subscription the push service says is gone (404/410)."""
    await conn.execute("DELETE FROM push_subscriptions WHERE endpoint = $1", endpoint)


async def for_team(conn: Conn, team_id: str) -> list[PushSubscription]:
    rows = await conn.fetch(
        "SELECT endpoint, team_id, user_id, p256dh, auth FROM push_subscriptions"
        " WHERE team_id = $1 ORDER BY created_at, endpoint",
        team_id,
    )
    return [
        PushSubscription(
            endpoint=row["endpoint"],
            team_id=row["team_id"],
            user_id=row["user_id"],
            p256dh=row["p256dh"],
            auth=row["auth"],
        )
        for row in rows
    ]
