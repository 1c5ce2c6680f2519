from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.admin.schemas import EmailBody, PolicyBody, SignupBody


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [(" Ann@Example.COM ", "ann@example.com"), ("a.b+c@sub.example.org", "a.b+c@sub.example.org")],
)
def test_emails_are_trimmed_and_lowercased(raw: str, normalized: str) -> None:
    assert EmailBody(email=raw).email == normalized


@pytest.mark.parametrize(
    "raw", ["no-at-sign", "a@b", "a@.com", "a@b.", "a b@c.de", "a@b.co\u0000", "<a>@b.co", "@b.co"]
)
def test_bad_emails(raw: str) -> None:
    with pytest.raises(ValidationError):
        EmailBody(email=raw)


@pytest.mark.parametrize(
    "body",
    [
        {"team_name": "ok-team", "email": "a@b.co", "password": "\ud800" * 8},  # a lone surrogate
        {"team_name": "ok-team", "email": "a@b.co", "password": "1234567"},  # too short
        {"team_name": "ok team", "email": "a@b.co", "password": "12345678"},
        {"team_name": "ok-team", "email": "a@b.co", "password": "12345678", "extra": 1},
    ],
)
def test_signup_refuses(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SignupBody.model_validate(body)


def test_policy_distinguishes_omitted_from_empty_require_urls() -> None:
    assert PolicyBody().require_approval_urls is None
    assert PolicyBody(require_approval_urls=[]).require_approval_urls == []
