"""Outgoing email through Resend, or the console in local mode.

With ``RESEND_API_KEY`` set, :meth:`Mailer.send` POSTs ``{from, to, subject,
text}`` to ``{TAP_RESEND_API_URL}/emails`` with the key as a bearer token.
Without it TAP runs in local mode: the message is written to the log (so a
developer can read the verification code there) and callers hand invite
links back to the inviter instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

import aiohttp

from app.config import Config
from app.store import email_codes

logger = logging.getLogger(__name__)

SEND_TIMEOUT_SECS: Final = 10
DEFAULT_FROM: Final = "TAP <onboarding@resend.dev>"


@dataclass(frozen=True, slots=True)
class Delivery:
    """What happened to one message."""

    sent: bool
    error: str | None = None


class Mailer:
    """Sends plain-text mail. Never raises: a failure is reported in the :class:`Delivery`."""

    def __init__(self, config: Config) -> None:
        self._config = config

    @property
    def local_mode(self) -> bool:
        return self._config.resend_api_key is None

    async def send(self, *, to: str, subject: str, text: str) -> Delivery:
        if self._config.resend_api_key is None:
            # NOTE: local mode by design (no RESEND_API_KEY): the console is the mailbox.
            logger.warning(
                "local mode (no RESEND_API_KEY): email to %s, subject %r:\n%s", to, subject, text
            )
            return Delivery(
                sent=False, error="email is not configured (local mode); see the server log"
            )
        payload = {
            "from": self._config.resend_from_email or DEFAULT_FROM,
            "to": [to],
            "subject": subject,
            "text": text,
        }
        headers = {"Authorization": f"Bearer {self._config.resend_api_key.reveal()}"}
        url = self._config.resend_api_url.rstrip("/") + "/emails"
        try:
            timeout = aiohttp.ClientTimeout(total=SEND_TIMEOUT_SECS)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(url, json=payload, headers=headers) as response,
            ):
                if response.status >= 300:
                    logger.warning("resend refused an email (status %d)", response.status)
                    return Delivery(
                        sent=False, error=f"the email provider answered {response.status}"
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("could not reach the email provider: %s", type(exc).__name__)
            return Delivery(sent=False, error="the email provider could not be reached")
        logger.info("email sent (subject %r)", subject)
        return Delivery(sent=True)


def verification_message(code: str, team_name: str) -> tuple[str, str]:
    """The subject and text of the email carrying a verification code."""
    subject = f"Your TAP verification code for {team_name}"
    text = (
        f"Your TAP verification code is {code}.\n\n"
        f"It expires in {int(email_codes.CODE_TTL.total_seconds() // 60)} minutes. "
        "If you did not ask for a TAP account, ignore this email.\n"
    )
    return subject, text
