"""Wire shapes of the passkey ceremonies and the approve endpoints.

A WebAuthn credential travels as the browser's PublicKeyCredential JSON
(``toJSON()``): an object whose contents py_webauthn checks, so here it is
only bounded in size and required to be an object.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, RootModel, StringConstraints

from app.admin.schemas import ApprovalOut, LoginResult, RequestModel, ShortText, Token

WebAuthnJson = Annotated[dict[str, Any], Field(max_length=16)]
PasskeyId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{16,1400}$")]


class CeremonyOptions(BaseModel):
    """Options for ``navigator.credentials.create`` or ``.get`` (as ``challenge``)."""

    challenge: dict[str, Any]
    user_id: str


class RegisterFinishBody(RequestModel):
    credential: WebAuthnJson
    display_name: ShortText | None = None


class SetupBeginBody(RequestModel):
    passkey_setup_token: Token


class SetupFinishBody(RequestModel):
    passkey_setup_token: Token
    credential: WebAuthnJson
    display_name: ShortText | None = None


class PasskeyOut(BaseModel):
    id: str
    display_name: str
    transports: list[str]
    created_at: dt.datetime
    last_used_at: dt.datetime | None


class Registered(BaseModel):
    status: Literal["registered"]
    passkey: PasskeyOut


class PasskeyList(BaseModel):
    passkeys: list[PasskeyOut]


class Deleted(BaseModel):
    deleted: bool


class LoginPasskeyBody(RequestModel):
    passkey_token: Token
    credential: WebAuthnJson


class PasskeySetupRequired(BaseModel):
    """``/login`` with the right password, for an account that has no passkey yet."""

    needs_passkey_setup: Literal[True]
    passkey_setup_token: str
    passkey_setup_expires_at: dt.datetime
    user_id: str


class PasskeyStepRequired(BaseModel):
    """``/login`` with the right password: answer ``challenge`` at ``/login/passkey``."""

    requires_passkey: Literal[True]
    passkey_token: str
    challenge: dict[str, Any]
    user_id: str


class LoginOutcome(RootModel[LoginResult | PasskeySetupRequired | PasskeyStepRequired]):
    """What ``/login`` answers: a session, or (with passkeys on) the passkey step."""


class AssertionBody(RequestModel):
    credential: WebAuthnJson


class WellKnownWebauthn(BaseModel):
    origins: list[str]


class MemberReset(BaseModel):
    reset: int


# The approve page's endpoints -------------------------------------------------------


class ApprovalDetails(ApprovalOut):
    """What the approve page shows: everything that will be sent, and whether a passkey can approve it."""

    team_id: str
    has_passkeys: bool
    passkeys_enabled: bool


class ApprovalBegin(BaseModel):
    challenge: dict[str, Any]
    canonical_request: str


class Decided(BaseModel):
    txn_id: str
    status: str
    approver: str
    approvals: int
    needed: int


class PendingItem(BaseModel):
    txn_id: str
    credential_name: str
    agent_id: str
    target_url: str
    method: str
    body_preview: str | None
    summary: str
    require_passkey: bool
    can_approve: bool
    created_at: dt.datetime
    expires_at: dt.datetime


class PendingList(BaseModel):
    pending: list[PendingItem]


class EvidenceEntry(BaseModel):
    approver: str
    canonical_request: str
    credential_id: str
    public_key: str
    authenticator_data: str
    client_data_json: str
    signature: str


class EvidenceOut(BaseModel):
    txn_id: str
    rp_id: str | None
    origins: list[str]
    evidence: list[EvidenceEntry]
    digest: str
