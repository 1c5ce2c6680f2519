from __future__ import annotations

import pytest

from app.admin.email import Mailer
from app.config import Config
from tests.support.fake_resend import FakeResend


async def test_sends_through_resend() -> None:
    fake = FakeResend().start()
    try:
        config = Config.from_env({"RESEND_API_KEY": "re_k", "TAP_RESEND_API_URL": fake.url})
        delivery = await Mailer(config).send(to="a@b.co", subject="s", text="t")
        assert delivery.sent and fake.sent[0].authorization == "Bearer re_k"
        assert fake.sent[0].payload == {
            "from": "TAP <onboarding@resend.dev>",
            "to": ["a@b.co"],
            "subject": "s",
            "text": "t",
        }
        fake.fail_with = 422
        failed = await Mailer(config).send(to="a@b.co", subject="s", text="t")
        assert not failed.sent and "422" in (failed.error or "")
    finally:
        fake.stop()


async def test_local_mode_logs(caplog: pytest.LogCaptureFixture) -> None:
    delivery = await Mailer(Config.from_env({})).send(to="a@b.co", subject="s", text="code 123456")
    assert not delivery.sent and "123456" in caplog.text


async def test_unreachable_provider_is_reported() -> None:
    config = Config.from_env({"RESEND_API_KEY": "re_k", "TAP_RESEND_API_URL": "http://127.0.0.1:9"})
    delivery = await Mailer(config).send(to="a@b.co", subject="s", text="t")
    assert not delivery.sent and delivery.error == "the email provider could not be reached"
