"""The few Matrix client-server API calls the bot makes, over the hub's aiohttp session.

This is the one module that talks to the homeserver: every aiohttp error and
every non-2xx answer becomes a :class:`MatrixError` here (most specific
first, chained), so the channel and its sync loop never see aiohttp.

Usage::

    client = MatrixClient(http, "https://matrix.example.org", Secret(token))
    me = await client.whoami()
    event_id = await client.send(room_id, "m.room.message", {"msgtype": "m.text", "body": "hi"})
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, Final
from urllib.parse import quote

import aiohttp

from app.channels.base import DeliveryFailed
from app.secret import Secret

logger = logging.getLogger(__name__)

API_PREFIX: Final = "/_matrix/client/v3"
SYNC_SLACK_SECS: Final = 10.0
"""How much longer than the sync's own long-poll timeout the HTTP call may take."""

SYNC_FILTER: Final = json.dumps(
    {
        # Only what carries a decision or a link code; invites arrive regardless.
        "room": {
            "timeline": {"types": ["m.room.message", "m.reaction"], "limit": 50},
            "state": {"types": []},
            "ephemeral": {"types": []},
            "account_data": {"types": []},
        },
        "presence": {"types": []},
        "account_data": {"types": []},
    },
    separators=(",", ":"),
)


class MatrixError(DeliveryFailed):
    """The homeserver refused a call or could not be reached.

    ``status`` is the HTTP status (0 when no answer came), ``errcode`` the
    Matrix error code (``M_FORBIDDEN``...) when the homeserver gave one. A
    4xx other than 429 is ``permanent``: retrying the same call cannot help.
    """

    def __init__(self, call: str, status: int, errcode: str | None = None) -> None:
        detail = f"HTTP {status}" if status else "no answer"
        super().__init__(
            f"matrix {call}: {detail}{f' {errcode}' if errcode else ''}",
            permanent=400 <= status < 500 and status != 429,
        )
        self.status = status
        self.errcode = errcode

    @property
    def not_in_room(self) -> bool:
        """The bot is not (or no longer) joined to the room it wrote to."""
        return self.status == 403 and self.errcode == "M_FORBIDDEN"


def _room(room_id: str) -> str:
    # NOTE: room ids contain '!' and ':' and event ids '$'; every path segment is
    # encoded whole so an id can never add a segment or a query.
    return quote(room_id, safe="")


class MatrixClient:
    """A bot account on one homeserver, authenticated with its access token."""

    def __init__(self, http: aiohttp.ClientSession, homeserver_url: str, token: Secret) -> None:
        self._http = http
        self._base = homeserver_url.rstrip("/") + API_PREFIX
        self._token = token

    def __repr__(self) -> str:
        return f"MatrixClient({self._base!r}, token masked)"

    async def _call(
        self,
        call: str,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, str] | None = None,
        timeout: aiohttp.ClientTimeout | None = None,
    ) -> dict[str, Any]:
        """One API call; the JSON object it answers. Raises MatrixError."""
        headers = {"Authorization": f"Bearer {self._token.reveal()}"}
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            async with self._http.request(
                method,
                self._base + path,
                json=body,
                params=params,
                headers=headers,
                allow_redirects=False,
                **extra,
            ) as response:
                if response.status // 100 != 2:
                    errcode = await _errcode(response)
                    raise MatrixError(call, response.status, errcode)
                try:
                    answer = await response.json(content_type=None)
                except ValueError:
                    raise MatrixError(call, response.status, "not_json") from None
        except MatrixError:
            raise
        except TimeoutError as exc:
            raise MatrixError(call, 0, "timeout") from exc
        except aiohttp.ClientError as exc:
            raise MatrixError(call, 0, type(exc).__name__) from exc
        if not isinstance(answer, dict):
            raise MatrixError(call, 200, "not_an_object")
        logger.debug("matrix %s ok", call)
        return answer

    async def whoami(self) -> str:
        """The bot's own user id (``@tap:example.org``)."""
        answer = await self._call("whoami", "GET", "/account/whoami")
        user_id = answer.get("user_id")
        if not isinstance(user_id, str):
            raise MatrixError("whoami", 200, "no_user_id")
        return user_id

    async def sync(self, since: str | None, timeout_ms: int) -> dict[str, Any]:
        """One ``/sync`` long-poll; ``since=None`` is the first sync (the caller skips its backlog)."""
        params = {"filter": SYNC_FILTER, "timeout": str(timeout_ms)}
        if since is not None:
            params["since"] = since
        timeout = aiohttp.ClientTimeout(total=timeout_ms / 1000 + SYNC_SLACK_SECS)
        return await self._call("sync", "GET", "/sync", params=params, timeout=timeout)

    async def join(self, room_id: str) -> None:
        """Join ``room_id`` (accepts an invite)."""
        await self._call("join", "POST", f"/join/{_room(room_id)}", body={})

    async def joined_members(self, room_id: str) -> set[str]:
        """The user ids joined to ``room_id`` now."""
        answer = await self._call(
            "joined_members", "GET", f"/rooms/{_room(room_id)}/joined_members"
        )
        joined = answer.get("joined")
        return set(joined) if isinstance(joined, dict) else set()

    async def direct_rooms(self, me: str) -> dict[str, list[str]]:
        """The bot's ``m.direct`` account data: its direct chats by the other person's id."""
        try:
            answer = await self._call(
                "get_direct", "GET", f"/user/{_room(me)}/account_data/m.direct"
            )
        except MatrixError as exc:
            if exc.status == 404:
                return {}
            raise
        return {
            user: [r for r in rooms if isinstance(r, str)]
            for user, rooms in answer.items()
            if isinstance(rooms, list)
        }

    async def mark_direct(self, me: str, user_id: str, room_id: str) -> None:
        """Record ``room_id`` as the bot's direct chat with ``user_id`` (in ``m.direct``)."""
        rooms = await self.direct_rooms(me)
        if room_id in rooms.get(user_id, []):
            return
        rooms[user_id] = [*rooms.get(user_id, []), room_id]
        await self._call("set_direct", "PUT", f"/user/{_room(me)}/account_data/m.direct", rooms)

    async def send(self, room_id: str, event_type: str, content: dict[str, Any]) -> str:
        """Send one event; its event id. A fresh transaction id each call."""
        path = f"/rooms/{_room(room_id)}/send/{_room(event_type)}/{uuid.uuid4().hex}"
        answer = await self._call("send", "PUT", path, body=content)
        event_id = answer.get("event_id")
        if not isinstance(event_id, str):
            raise MatrixError("send", 200, "no_event_id")
        return event_id


async def _errcode(response: aiohttp.ClientResponse) -> str | None:
    """The Matrix ``errcode`` of an error answer, if it has one (never its free text)."""
    try:
        body = await response.json(content_type=None)
    except (aiohttp.ClientError, ValueError):
        return None
    errcode = body.get("errcode") if isinstance(body, dict) else None
    return errcode if isinstance(errcode, str) and len(errcode) <= 64 else None
