"""A loopback OAuth 2 authorization server and the resource server it protects.

One :class:`~tests.support.upstream.Upstream` serves both:

* ``POST /token``: the refresh-token grant (rotating the refresh token when
  ``rotate`` is on) and the client-credentials grant; client authentication
  by HTTP Basic (RFC 6749 §2.3.1) or in the form body. A revoked or unknown
  refresh token is ``400 invalid_grant`` whose ``error_description`` echoes
  the secrets it was sent, as careless servers do.
* ``/api/...``: answers 200 to a live bearer token and 401 to anything else
  (an expired, revoked or unknown token); ``/api/echo`` also echoes the
  token, the client secret and the refresh token back in several encodings.

Token expiry is the fake's own clock: a token is dead ``expires_in`` seconds
after it was issued. ``token_delay_secs`` holds each token answer back so that
concurrent requests really overlap while one refresh is under way.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

from aiohttp import web

from tests.support.upstream import Received, Upstream


@dataclass
class FakeAuthorizationServer:
    client_id: str = "tap-client"
    client_secret: str = "cs_" + secrets.token_urlsafe(18)
    refresh_token: str = "rt_" + secrets.token_urlsafe(18)
    expires_in: int = 3600
    rotate: bool = True
    token_delay_secs: float = 0.0
    always_401: bool = False
    live_refresh_tokens: set[str] = field(default_factory=set)
    access_tokens: dict[str, float] = field(default_factory=dict)
    """Token -> when it dies (the fake's monotonic clock)."""
    token_requests: list[dict[str, str]] = field(default_factory=list)
    """Each token request's form fields (plus ``auth`` = how the client authenticated)."""
    api_tokens: list[str] = field(default_factory=list)
    """The bearer token of each request to /api/..., in order."""
    upstream: Upstream = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.live_refresh_tokens.add(self.refresh_token)
        self.upstream = Upstream(handler=self._handle)

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> FakeAuthorizationServer:
        self.upstream.start()
        return self

    def stop(self) -> None:
        self.upstream.stop()

    @property
    def url(self) -> str:
        return self.upstream.url

    @property
    def token_url(self) -> str:
        return self.url + "/token"

    # -- what tests change and read ---------------------------------------------------

    def revoke_access_tokens(self) -> None:
        with self._lock:
            self.access_tokens.clear()

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            self.live_refresh_tokens.clear()

    def grant_refresh_token(self) -> str:
        """A new live refresh token, as a human re-authorizing the client would get."""
        token = "rt_" + secrets.token_urlsafe(18)
        with self._lock:
            self.live_refresh_tokens.add(token)
        return token

    def expired(self, token: str) -> bool:
        with self._lock:
            return self.access_tokens.get(token, 0.0) <= time.monotonic()

    def issued_tokens(self) -> int:
        return len(self.token_requests)

    # -- the server --------------------------------------------------------------------

    async def _handle(self, received: Received) -> web.StreamResponse:
        if received.path == "/token" and received.method == "POST":
            return await self._token(received)
        if received.path.startswith("/api/"):
            return self._api(received)
        return web.json_response({"error": "not_found"}, status=404)

    async def _token(self, received: Received) -> web.Response:
        form = dict(urllib.parse.parse_qsl(received.body.decode()))
        client_id, client_secret, how = self._client(received, form)
        self.token_requests.append({**form, "auth": how})
        if self.token_delay_secs:
            await asyncio.sleep(self.token_delay_secs)
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            return web.json_response({"error": "invalid_client"}, status=401)
        grant = form.get("grant_type")
        rotated: str | None = None
        if grant == "refresh_token":
            presented = form.get("refresh_token", "")
            with self._lock:
                if presented not in self.live_refresh_tokens:
                    return web.json_response(
                        {
                            "error": "invalid_grant",
                            "error_description": f"refresh token {presented} of client "
                            f"{client_id}:{client_secret} is revoked",
                        },
                        status=400,
                    )
                if self.rotate:
                    self.live_refresh_tokens.discard(presented)
                    rotated = "rt_" + secrets.token_urlsafe(18)
                    self.live_refresh_tokens.add(rotated)
        elif grant != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        token = "at_" + secrets.token_urlsafe(24)
        with self._lock:
            self.access_tokens[token] = time.monotonic() + self.expires_in
        body: dict[str, object] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }
        if rotated is not None:
            body["refresh_token"] = rotated
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    @staticmethod
    def _client(received: Received, form: dict[str, str]) -> tuple[str, str, str]:
        header = received.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password), "basic"
        return form.get("client_id", ""), form.get("client_secret", ""), "post"

    def _api(self, received: Received) -> web.Response:
        header = received.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        self.api_tokens.append(token)
        with self._lock:
            live = self.access_tokens.get(token, 0.0) > time.monotonic()
        if self.always_401 or not live:
            return web.json_response(
                {"error": "invalid_token"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if received.path.startswith("/api/echo"):
            leaked = [token, self.client_secret, *sorted(self.live_refresh_tokens)]
            return web.json_response(
                {
                    "plain": leaked,
                    "base64": [base64.b64encode(s.encode()).decode() for s in leaked],
                    "percent": [urllib.parse.quote(s, safe="") for s in leaked],
                },
                headers={"X-Echo-Token": token},
            )
        return web.json_response({"ok": True, "path": received.path})
