"""Tests for app.proxy.inject: formats, bindings, basic auth and refusals."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from app.errors import (
    CredentialFieldMissing,
    CredentialMisconfigured,
    CredentialNotConfigured,
    MultiSecretUnbound,
    ProxyError,
)
from app.proxy.inject import inject
from app.secret import Secret
from app.store.models import AuthBinding
from tests.support.factories import make_credential

AGENT = [("Accept", "json"), ("authorization", "Bearer agent"), ("DD-API-KEY", "spoofed")]
PAIR = '{"username":"public-key","password":"private-key"}'


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("fields", "value", "added", "kept"),
    [
        # no bindings: Authorization replaced (every agent copy, any case)
        (
            {},
            "tok",
            [("Authorization", "Bearer tok")],
            [("Accept", "json"), ("DD-API-KEY", "spoofed")],
        ),
        (
            {"auth_header_format": "Bot {value}"},
            "ntn_secret",
            [("Authorization", "Bot ntn_secret")],
            None,
        ),
        (
            {"auth_header_format": "Basic {base64(value.username:value.password)}"},
            PAIR,
            [("Authorization", "Basic cHVibGljLWtleTpwcml2YXRlLWtleQ==")],
            None,
        ),
        (
            {"auth_header_format": "Basic {base64(value.username:value.password)}"},
            '{"username":"pub","password":"priv"}',
            [("Authorization", "Basic cHViOnByaXY=")],
            None,
        ),
        (
            {"auth_header_format": "Token {base64(value)}"},
            "abc",
            [("Authorization", "Token " + _b64("abc"))],
            None,
        ),
        # basic auth without a format
        (
            {"auth_type": "basic"},
            PAIR,
            [("Authorization", "Basic " + _b64("public-key:private-key"))],
            None,
        ),
        (
            {"auth_type": "basic"},
            "user:pass",
            [("Authorization", "Basic " + _b64("user:pass"))],
            None,
        ),
        # bindings: bound agent headers replaced, agent Authorization kept
        (
            {
                "auth_bindings": (
                    AuthBinding("DD-API-KEY", "{value.api_key}"),
                    AuthBinding("DD-APPLICATION-KEY", "{value.app_key}"),
                )
            },
            '{"api_key":"k1","app_key":"k2"}',
            [("DD-API-KEY", "k1"), ("DD-APPLICATION-KEY", "k2")],
            [("Accept", "json"), ("authorization", "Bearer agent")],
        ),
        # template text in a secret is never re-read as template
        ({}, "{value.x}{base64(", [("Authorization", "Bearer {value.x}{base64(")], None),
    ],
)
def test_rendering(
    fields: dict[str, Any], value: str, added: list[tuple[str, str]], kept: Any
) -> None:
    result = inject(AGENT, make_credential(**fields), Secret(value))
    assert list(result.headers[-len(added) :]) == added
    if kept is not None:
        assert list(result.headers[: -len(added)]) == kept
    assert not any(name.lower() == added[0][0].lower() for name, _ in result.headers[: -len(added)])


@pytest.mark.parametrize(
    ("fields", "value", "injected"),
    [
        # labels: the credential name, or name.field; base64 forms reported too
        ({}, "tok", (("stripe", "tok"),)),
        (
            {"auth_type": "basic"},
            PAIR,
            (
                ("stripe.username", "public-key"),
                ("stripe.password", "private-key"),
                ("stripe", "public-key:private-key"),
                ("stripe", _b64("public-key:private-key")),
            ),
        ),
        ({"auth_type": "basic"}, "u:p", (("stripe", "u:p"), ("stripe", _b64("u:p")))),
        (
            {"auth_bindings": (AuthBinding("X-A", "{value.a}"), AuthBinding("X-B", "{value.a}"))},
            '{"a":"s1"}',
            (("stripe.a", "s1"),),
        ),
    ],
)
def test_injected_material_is_reported(
    fields: dict[str, Any], value: str, injected: tuple[tuple[str, str], ...]
) -> None:
    assert inject([], make_credential(**fields), Secret(value)).injected == injected


SECRET_JSON = '{"api_key":"TOPSECRET1","app_key":"TOPSECRET2"}'


@pytest.mark.parametrize(
    ("fields", "value", "error"),
    [
        # nothing to inject
        ({}, "", CredentialNotConfigured),
        # a JSON object with no binding or format
        ({}, SECRET_JSON, MultiSecretUnbound),
        # fields the value lacks, fields of plain values, leftover syntax
        ({"auth_header_format": "Key {value.missing}"}, SECRET_JSON, CredentialFieldMissing),
        ({"auth_header_format": "Key {value.api_key}"}, "TOPSECRETPLAIN", CredentialFieldMissing),
        ({"auth_header_format": "Key {base64(value.nope)}"}, SECRET_JSON, CredentialFieldMissing),
        ({"auth_header_format": "Key {base64(value"}, SECRET_JSON, CredentialFieldMissing),
        ({"auth_header_format": "Key {value.}"}, SECRET_JSON, CredentialFieldMissing),
        (
            {"auth_bindings": (AuthBinding("X-K", "{value.zzz}"),)},
            SECRET_JSON,
            CredentialFieldMissing,
        ),
        ({"auth_type": "basic"}, "TOPSECRETNOCOLON", CredentialFieldMissing),
        ({"auth_type": "basic"}, '{"username":"TOPSECRET1"}', CredentialFieldMissing),
        # configuration that cannot be sent
        (
            {"auth_bindings": (AuthBinding("Bad Header", "{value}"),)},
            "TOPSECRET",
            CredentialMisconfigured,
        ),
        ({"auth_header_format": "K {base64()}"}, "TOPSECRET", CredentialMisconfigured),
        ({}, "TOPSECRET\r\nX-Evil: 1", CredentialMisconfigured),
        (
            {"auth_bindings": (AuthBinding("X-K", "{value.api_key}"),)},
            '{"api_key":"TOPSECRET\\n"}',
            CredentialMisconfigured,
        ),
    ],
)
def test_refusals_never_contain_the_secret(
    fields: dict[str, Any], value: str, error: type[ProxyError]
) -> None:
    with pytest.raises(error) as info:
        inject(AGENT, make_credential(**fields), Secret(value))
    rendered = str(info.value.to_json()) + repr(info.value)
    assert "TOPSECRET" not in rendered
