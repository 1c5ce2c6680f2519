"""A small HTTP client for tests that talk to a real tap-proxy as a person would."""

from __future__ import annotations

from typing import Any

import httpx


class Client:
    """Calls ``url`` with an optional bearer session; ``ok`` and ``refused`` assert the answer."""

    def __init__(self, url: str) -> None:
        self.url = url

    def call(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def ok(
        self, method: str, path: str, token: str | None = None, status: int = 200, **kwargs: Any
    ) -> Any:
        response = self.call(method, path, token, **kwargs)
        assert response.status_code == status, (method, path, response.status_code, response.text)
        return response.json()

    def refused(
        self, method: str, path: str, token: str | None, status: int, code: str, **kwargs: Any
    ) -> Any:
        response = self.call(method, path, token, **kwargs)
        assert (response.status_code, response.json().get("error")) == (status, code), response.text
        return response.json()
