"""Accounts over HTTP: signup, verification, login, sessions, password reset, and their brute-force bounds."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import asyncpg
import pytest

from app.admin import passwords
from app.store import email_codes
from tests.support.admin_api import PASSWORD, Api, running_api


async def test_signup_verify_login_me_logout(api: Api) -> None:
    reply = await api.call(
        "POST",
        "/signup",
        json={"team_name": "acme", "email": " Ann@Example.COM ", "password": PASSWORD},
    )
    assert reply.status == 201
    assert reply.body["email"] == "ann@example.com" and reply.body["email_verified"] is False
    assert "email_error" not in reply.body or reply.body["email_error"] is None
    sent = api.resend.last_to("ann@example.com")
    assert sent.authorization == "Bearer re_test_key"
    assert sent.payload["from"] == "TAP <tap@example.test>" and "acme" in sent.payload["subject"]

    # Unverified accounts cannot log in (and learn so only with the right password).
    early = await api.call(
        "POST", "/login", json={"email": "ann@example.com", "password": PASSWORD}
    )
    assert (
        early.status == 403
        and early.body["error"] == "email_not_verified"
        and early.body["unverified"] is True
    )

    code = api.resend.code_for("ann@example.com")
    verified = await api.call(
        "POST", "/verify-email", json={"email": "ann@example.com", "code": code}
    )
    assert verified.status == 200 and verified.body["verified"] is True
    assert verified.body["passkey_setup_token"] is None  # no WebAuthn configured

    login = await api.call(
        "POST", "/login", json={"email": "ANN@example.com", "password": PASSWORD}
    )
    assert login.status == 200
    token = login.body["session_token"]
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    assert (
        login.body["member_role"] == "owner" and "manage_credentials" in login.body["capabilities"]
    )

    me = await api.call("GET", "/user/me", token)
    assert (
        me.status == 200
        and me.body["email"] == "ann@example.com"
        and me.body["team_name"] == "acme"
    )
    team = await api.call("GET", "/team", token)
    assert team.body["default_approval_mode"] == "gated"

    assert (await api.call("POST", "/logout", token)).body == {"logged_out": True}
    assert (await api.call("GET", "/user/me", token)).status == 401
    assert (await api.call("POST", "/logout", token)).status == 401


async def test_session_tokens_are_stored_only_as_hashes(api: Api, database_url: str) -> None:
    owner = await api.signup("acme", "ann@example.com")
    conn = await asyncpg.connect(database_url)
    try:
        stored = [row["token_hash"] for row in await conn.fetch("SELECT token_hash FROM sessions")]
        password_hash = await conn.fetchval("SELECT password_hash FROM users")
    finally:
        await conn.close()
    assert owner.token not in stored and len(stored) == 1
    assert password_hash.startswith("$argon2id$")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        # team names: 3-64 of [a-z0-9-]
        ({"team_name": "ab", "email": "a@b.co", "password": PASSWORD}, "team_name"),
        ({"team_name": "Acme", "email": "a@b.co", "password": PASSWORD}, "team_name"),
        ({"team_name": "a" * 65, "email": "a@b.co", "password": PASSWORD}, "team_name"),
        # emails and passwords
        ({"team_name": "acme", "email": "not-an-email", "password": PASSWORD}, "email"),
        ({"team_name": "acme", "email": "a@b.co", "password": "short"}, "password"),
        ({"team_name": "acme", "email": "a@b.co", "password": "pass\u0000word"}, "password"),
        # unknown fields are refused, not ignored
        ({"team_name": "acme", "email": "a@b.co", "password": PASSWORD, "role": "owner"}, "role"),
    ],
)
async def test_signup_validation(api: Api, body: dict[str, str], field: str) -> None:
    reply = await api.call("POST", "/signup", json=body)
    assert reply.status == 400 and reply.body["error"] == "invalid_input"
    assert any(p["field"] == field for p in reply.body["problems"]), reply.body
    assert PASSWORD not in str(reply.body)


async def test_signup_conflicts(api: Api) -> None:
    await api.call(
        "POST",
        "/signup",
        json={"team_name": "acme", "email": "ann@example.com", "password": PASSWORD},
    )
    again = await api.call(
        "POST",
        "/signup",
        json={"team_name": "other", "email": "ann@example.com", "password": PASSWORD},
    )
    assert again.status == 409 and again.body["unverified"] is True
    taken = await api.call(
        "POST",
        "/signup",
        json={"team_name": "acme", "email": "bob@example.com", "password": PASSWORD},
    )
    assert taken.status == 409


async def test_bad_json_is_a_400(api: Api) -> None:
    response = await api.client.post(
        "/login", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and (await response.get_json())["error"] == "invalid_json"
    response = await api.client.post("/login", json=[1, 2])
    assert response.status_code == 400 and (await response.get_json())["error"] == "json_not_object"


async def test_login_errors_do_not_say_which_part_was_wrong(api: Api) -> None:
    await api.signup("acme", "ann@example.com")
    wrong_password = await api.call(
        "POST", "/login", json={"email": "ann@example.com", "password": "nope-nope"}
    )
    unknown = await api.call(
        "POST", "/login", json={"email": "zed@example.com", "password": "nope-nope"}
    )
    assert wrong_password.status == unknown.status == 401
    assert (
        wrong_password.body
        == unknown.body
        == {"error": "invalid_credentials", "message": "invalid email or password"}
    )


async def test_login_is_throttled_per_account_and_address(api: Api) -> None:
    await api.signup("acme", "ann@example.com")
    for i in range(10):
        reply = await api.call(
            "POST",
            "/login",
            json={"email": "ann@example.com", "password": f"guess-{i}"},
            address="10.0.0.1",
        )
        assert reply.status == 401
    blocked = await api.call(
        "POST",
        "/login",
        json={"email": "ann@example.com", "password": PASSWORD},
        address="10.0.0.1",
    )
    assert blocked.status == 429 and blocked.body["error"] == "too_many_attempts"
    assert int(blocked.headers.get("retry-after", 0)) > 0, (blocked.headers, blocked.body)
    # The owner, elsewhere, is not locked out.
    owner = await api.call(
        "POST",
        "/login",
        json={"email": "ann@example.com", "password": PASSWORD},
        address="10.9.9.9",
    )
    assert owner.status == 200
    # Another account from the guessing address is not affected.
    other = await api.call(
        "POST",
        "/login",
        json={"email": "bob@example.com", "password": "whatever1"},
        address="10.0.0.1",
    )
    assert other.status == 401


async def test_login_has_a_per_account_ceiling_for_distributed_guessing(
    api: Api, database_url: str
) -> None:
    await api.signup("acme", "ann@example.com")
    # 99 failures from many addresses already spent in this window (as the store counts them).
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO auth_throttle (key, window_start, count)"
            " VALUES ($1, to_timestamp(floor(extract(epoch FROM now()) / 900) * 900), 99)",
            "login-account:ann@example.com",
        )
    finally:
        await conn.close()
    last = await api.call(
        "POST",
        "/login",
        json={"email": "ann@example.com", "password": "guess-99"},
        address="10.0.9.1",
    )
    assert last.status == 401
    blocked = await api.call(
        "POST",
        "/login",
        json={"email": "ann@example.com", "password": "guess-x"},
        address="10.9.9.9",
    )
    assert blocked.status == 429


async def test_login_is_throttled_per_client_address(api: Api) -> None:
    for i in range(50):
        reply = await api.call(
            "POST",
            "/login",
            json={"email": f"u{i}@example.com", "password": "guess-pw"},
            address="192.0.2.7",
        )
        assert reply.status == 401
    blocked = await api.call(
        "POST",
        "/login",
        json={"email": "new@example.com", "password": "guess-pw"},
        address="192.0.2.7",
    )
    assert blocked.status == 429
    elsewhere = await api.call(
        "POST",
        "/login",
        json={"email": "new@example.com", "password": "guess-pw"},
        address="192.0.2.8",
    )
    assert elsewhere.status == 401


async def test_verification_code_dies_after_five_wrong_guesses(api: Api) -> None:
    await api.call(
        "POST",
        "/signup",
        json={"team_name": "acme", "email": "ann@example.com", "password": PASSWORD},
    )
    code = api.resend.code_for("ann@example.com")
    wrong = "000000" if code != "000000" else "111111"
    for attempt in range(email_codes.MAX_ATTEMPTS):
        reply = await api.call(
            "POST", "/verify-email", json={"email": "ann@example.com", "code": wrong}
        )
        assert reply.status == 400 and reply.body["error"] == "invalid_code", attempt
    late = await api.call("POST", "/verify-email", json={"email": "ann@example.com", "code": code})
    assert late.status == 400, "the right code must not work once the attempts are used up"


async def test_verification_code_is_bound_to_its_email(api: Api) -> None:
    await api.call(
        "POST",
        "/signup",
        json={"team_name": "acme", "email": "ann@example.com", "password": PASSWORD},
    )
    await api.call(
        "POST",
        "/signup",
        json={"team_name": "bobs", "email": "bob@example.com", "password": PASSWORD},
    )
    ann_code = api.resend.code_for("ann@example.com")
    if ann_code == api.resend.code_for("bob@example.com"):
        pytest.skip("both codes happen to be equal")
    reply = await api.call(
        "POST", "/verify-email", json={"email": "bob@example.com", "code": ann_code}
    )
    assert reply.status == 400
    assert (
        await api.call("POST", "/verify-email", json={"email": "ann@example.com", "code": ann_code})
    ).status == 200


async def test_code_guesses_are_throttled_per_client_address(api: Api) -> None:
    for i in range(20):
        reply = await api.call(
            "POST",
            "/verify-email",
            json={"email": f"x{i}@example.com", "code": "123456"},
            address="198.51.100.1",
        )
        assert reply.status == 400
    blocked = await api.call(
        "POST",
        "/verify-email",
        json={"email": "y@example.com", "code": "123456"},
        address="198.51.100.1",
    )
    assert blocked.status == 429 and blocked.body["retry_after_secs"] > 0


async def test_resend_verification_answers_the_same_for_everyone(api: Api) -> None:
    await api.call(
        "POST",
        "/signup",
        json={"team_name": "acme", "email": "ann@example.com", "password": PASSWORD},
    )
    known = await api.call("POST", "/resend-verification", json={"email": "ann@example.com"})
    unknown = await api.call("POST", "/resend-verification", json={"email": "nobody@example.com"})
    assert known.status == unknown.status == 200 and known.body == unknown.body


async def test_password_reset_by_code_ends_every_session(api: Api) -> None:
    owner = await api.signup("acme", "ann@example.com")
    second = await api.login("ann@example.com")
    unknown = await api.call("POST", "/forgot-password", json={"email": "nobody@example.com"})
    reply = await api.call("POST", "/forgot-password", json={"email": "ann@example.com"})
    assert reply.status == unknown.status == 200 and reply.body == unknown.body
    code = api.resend.code_for("ann@example.com")
    reset = await api.call(
        "POST",
        "/reset-password",
        json={"email": "ann@example.com", "code": code, "password": "a brand new password"},
    )
    assert reset.status == 200
    for session in (owner, second):
        assert (await api.call("GET", "/user/me", session.token)).status == 401
    assert (
        await api.call("POST", "/login", json={"email": "ann@example.com", "password": PASSWORD})
    ).status == 401
    assert (
        await api.call(
            "POST", "/login", json={"email": "ann@example.com", "password": "a brand new password"}
        )
    ).status == 200
    # The code was single-use.
    again = await api.call(
        "POST",
        "/reset-password",
        json={"email": "ann@example.com", "code": code, "password": "yet another password"},
    )
    assert again.status == 400


async def test_setup_scope_session_reaches_nothing_else(tmp_path: Path, database_url: str) -> None:
    env = {
        "WEBAUTHN_RP_ID": "localhost",
        "WEBAUTHN_RP_ORIGIN": "http://localhost:3100",
        "TAP_APP_URL": "http://localhost:3100",
    }
    async with running_api(tmp_path, database_url, **env) as api:
        await api.call(
            "POST",
            "/signup",
            json={"team_name": "acme", "email": "ann@example.com", "password": PASSWORD},
        )
        code = api.resend.code_for("ann@example.com")
        verified = await api.call(
            "POST", "/verify-email", json={"email": "ann@example.com", "code": code}
        )
        setup = verified.body["passkey_setup_token"]
        assert setup
        for method, path in (("GET", "/user/me"), ("GET", "/team"), ("GET", "/team/credentials")):
            reply = await api.call(method, path, setup)
            assert reply.status == 403 and reply.body["error"] == "session_scope", path


async def test_local_mode_logs_the_code(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="app.admin.email")
    async with running_api(tmp_path, database_url, local_mode=True) as api:
        reply = await api.call(
            "POST",
            "/signup",
            json={"team_name": "acme", "email": "ann@example.com", "password": PASSWORD},
        )
        assert reply.status == 201 and "local mode" in reply.body["email_error"]
        match = re.search(r"code is (\d{6})", caplog.text)
        assert match, caplog.text
        verified = await api.call(
            "POST", "/verify-email", json={"email": "ann@example.com", "code": match.group(1)}
        )
        assert verified.status == 200
        assert not api.resend.sent


async def test_agent_keys_are_refused_everywhere(api: Api) -> None:
    owner = await api.signup("acme", "ann@example.com")
    for headers in ({"X-TAP-Key": "tap_abc"}, {"Authorization": "Bearer tap_abc"}):
        reply = await api.call("GET", "/team", headers=headers)
        assert reply.status == 403 and reply.body["error"] == "agent_key_not_allowed"
    both = await api.call("GET", "/team", owner.token, headers={"X-TAP-Key": "tap_abc"})
    assert both.status == 403


async def test_switch_team_requires_membership(api: Api) -> None:
    ann = await api.signup("acme", "ann@example.com")
    bob = await api.signup("bobs", "bob@example.com")
    refused = await api.call("POST", "/session/team", ann.token, json={"team_id": bob.team_id})
    assert refused.status == 403 and refused.body["error"] == "not_a_member"
    # Bob invites Ann; she accepts explicitly and can switch back and forth.
    invited = await api.call(
        "POST",
        "/team/members/invite",
        bob.token,
        json={"email": "ann@example.com", "role": "admin"},
    )
    assert invited.status == 201
    again = await api.call(
        "POST", "/login", json={"email": "ann@example.com", "password": PASSWORD}
    )
    assert again.body["team_id"] == ann.team_id
    accepted = await api.call(
        "POST", f"/user/invites/{invited.body['invite_id']}/accept", again.body["session_token"]
    )
    assert accepted.status == 200, accepted.body
    token = again.body["session_token"]
    teams = await api.call("GET", "/user/teams", token)
    assert {t["team_id"] for t in teams.body["teams"]} == {ann.team_id, bob.team_id}
    switched = await api.call("POST", "/session/team", token, json={"team_id": ann.team_id})
    assert switched.status == 200
    assert (await api.call("GET", "/team", token)).body["id"] == ann.team_id


async def test_signup_is_throttled_per_client_address(api: Api) -> None:
    for i in range(30):
        reply = await api.call(
            "POST",
            "/signup",
            json={"team_name": f"team-{i}", "email": f"u{i}@example.com", "password": PASSWORD},
            address="203.0.113.5",
        )
        assert reply.status == 201, (i, reply.body)
    blocked = await api.call(
        "POST",
        "/signup",
        json={"team_name": "late", "email": "late@example.com", "password": PASSWORD},
        address="203.0.113.5",
    )
    assert blocked.status == 429 and blocked.body["error"] == "too_many_attempts"
    elsewhere = await api.call(
        "POST",
        "/signup",
        json={"team_name": "late", "email": "late@example.com", "password": PASSWORD},
        address="203.0.113.6",
    )
    assert elsewhere.status == 201


async def test_signup_refuses_before_hashing_the_password(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await api.signup("acme", "ann@example.com")
    hashed: list[str] = []
    real = passwords.hash_password

    async def counting(password: str) -> str:
        hashed.append("x")
        return await real(password)

    monkeypatch.setattr(passwords, "hash_password", counting)
    taken_email = {"team_name": "other", "email": "ann@example.com", "password": PASSWORD}
    taken_team = {"team_name": "acme", "email": "bob@example.com", "password": PASSWORD}
    for body in (taken_email, taken_team):
        assert (await api.call("POST", "/signup", json=body)).status == 409
    invalid = {"team_name": "x", "email": "not-an-email", "password": PASSWORD}
    assert (await api.call("POST", "/signup", json=invalid)).status == 400
    assert hashed == []


async def test_reset_code_guesses_are_capped_per_account_per_day(api: Api) -> None:
    await api.signup("acme", "ann@example.com")
    # Guesses from many addresses, so no per-address bound is reached.
    for i in range(20):
        reply = await api.call(
            "POST",
            "/reset-password",
            json={"email": "ann@example.com", "code": f"{i:06d}", "password": "new password 1"},
            address=f"198.51.100.{i + 1}",
        )
        assert reply.status == 400, reply.body
    await api.call("POST", "/forgot-password", json={"email": "ann@example.com"})
    code = api.resend.code_for("ann@example.com")
    capped = await api.call(
        "POST",
        "/reset-password",
        json={"email": "ann@example.com", "code": code, "password": "new password 1"},
        address="192.0.2.200",
    )
    assert capped.status == 429
    # The account itself still signs in.
    assert (await api.login("ann@example.com")).token
