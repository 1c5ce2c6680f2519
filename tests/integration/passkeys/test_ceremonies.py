"""Passkey enrolment and sign-in over HTTP against a real tap-proxy, and how each is abused."""

from __future__ import annotations

from tests.integration.passkeys.conftest import ORIGIN, PASSWORD, Client
from tests.support.authenticator import SoftAuthenticator
from tests.support.fake_resend import FakeResend


def _verified(api: Client, resend: FakeResend, email: str = "ann@example.com") -> str:
    api.ok(
        "POST",
        "/signup",
        status=201,
        json={"team_name": "acme", "email": email, "password": PASSWORD},
    )
    verified = api.ok(
        "POST", "/verify-email", json={"email": email, "code": resend.code_for(email)}
    )
    token: str = verified["passkey_setup_token"]
    assert token
    return token


def test_setup_token_reaches_passkey_enrolment_only(api: Client, resend: FakeResend) -> None:
    setup = _verified(api, resend)
    # The setup token is no session for the team API.
    assert api.call("GET", "/team/credentials", setup).status_code in (401, 403)
    assert api.call("GET", "/user/passkeys", setup).status_code in (401, 403)
    # A password alone never yields a session: the account has no passkey yet.
    step = api.ok("POST", "/login", json={"email": "ann@example.com", "password": PASSWORD})
    assert step["needs_passkey_setup"] is True and "session_token" not in step
    # Enrolment with either setup token works once; the token then ends.
    authenticator = SoftAuthenticator(origin=ORIGIN)
    api.enrol(step["passkey_setup_token"], authenticator)
    api.refused(
        "POST",
        "/setup-passkey/begin",
        None,
        401,
        "unauthorized",
        json={"passkey_setup_token": step["passkey_setup_token"]},
    )


def test_login_needs_the_passkey_and_each_assertion_counts_once(
    api: Client, resend: FakeResend
) -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    api.enrol(_verified(api, resend), authenticator)

    # Wrong origin: refused, and the challenge is spent.
    step = api.ok("POST", "/login", json={"email": "ann@example.com", "password": PASSWORD})
    forged = authenticator.get(step["challenge"], origin="https://evil.example")
    api.refused(
        "POST",
        "/login/passkey",
        None,
        403,
        "passkey_verification_failed",
        json={"passkey_token": step["passkey_token"], "credential": forged},
    )
    good = authenticator.get(step["challenge"])
    api.refused(
        "POST",
        "/login/passkey",
        None,
        409,
        "stale_challenge",
        json={"passkey_token": step["passkey_token"], "credential": good},
    )

    # The right assertion signs in; replaying it is refused.
    step = api.ok("POST", "/login", json={"email": "ann@example.com", "password": PASSWORD})
    good = authenticator.get(step["challenge"])
    session = api.ok(
        "POST", "/login/passkey", json={"passkey_token": step["passkey_token"], "credential": good}
    )
    assert api.ok("GET", "/user/me", session["session_token"])["email"] == "ann@example.com"
    api.refused(
        "POST",
        "/login/passkey",
        None,
        409,
        "stale_challenge",
        json={"passkey_token": step["passkey_token"], "credential": good},
    )

    # A counter that goes back (a cloned authenticator) is refused.
    step = api.ok("POST", "/login", json={"email": "ann@example.com", "password": PASSWORD})
    cloned = authenticator.get(step["challenge"], counter=1)
    api.refused(
        "POST",
        "/login/passkey",
        None,
        403,
        "passkey_verification_failed",
        json={"passkey_token": step["passkey_token"], "credential": cloned},
    )

    # Without user verification: refused.
    authenticator.user_verified = False
    step = api.ok("POST", "/login", json={"email": "ann@example.com", "password": PASSWORD})
    api.refused(
        "POST",
        "/login/passkey",
        None,
        403,
        "passkey_verification_failed",
        json={
            "passkey_token": step["passkey_token"],
            "credential": authenticator.get(step["challenge"]),
        },
    )


def test_another_accounts_passkey_cannot_sign_in(api: Client, resend: FakeResend) -> None:
    ann = api.signup(resend, "acme", "ann@example.com")
    bob = api.signup(resend, "bobs", "bob@example.com")
    step = api.ok("POST", "/login", json={"email": "ann@example.com", "password": PASSWORD})
    # Bob answers Ann's challenge with his own passkey.
    options = dict(step["challenge"], allowCredentials=[])
    api.refused(
        "POST",
        "/login/passkey",
        None,
        403,
        "passkey_verification_failed",
        json={"passkey_token": step["passkey_token"], "credential": bob.authenticator.get(options)},
    )
    assert ann.token != bob.token


def test_register_list_and_delete_passkeys(api: Client, resend: FakeResend) -> None:
    ann = api.signup(resend, "acme", "ann@example.com")
    first = api.ok("GET", "/user/passkeys", ann.token)["passkeys"]
    assert len(first) == 1

    # A second passkey: the options exclude the one already registered.
    begun = api.ok("POST", "/user/passkey/register/begin", ann.token)
    assert [c["id"] for c in begun["challenge"]["excludeCredentials"]] == [first[0]["id"]]
    assert begun["challenge"]["authenticatorSelection"]["userVerification"] == "required"
    laptop = SoftAuthenticator(origin="https://approve.example.test")  # an additional origin
    created = laptop.create(begun["challenge"])
    api.ok(
        "POST",
        "/user/passkey/register/finish",
        ann.token,
        status=201,
        json={"credential": created, "display_name": "laptop"},
    )
    # The challenge was single-use.
    api.refused(
        "POST",
        "/user/passkey/register/finish",
        ann.token,
        409,
        "stale_challenge",
        json={"credential": created},
    )
    mine = api.ok("GET", "/user/passkeys", ann.token)["passkeys"]
    assert sorted(p["display_name"] for p in mine) == ["ann@example.com", "laptop"]

    # The same authenticator cannot register twice (excluded), and a foreign origin is refused.
    begun = api.ok("POST", "/user/passkey/register/begin", ann.token)
    other = SoftAuthenticator(origin="https://evil.example")
    api.refused(
        "POST",
        "/user/passkey/register/finish",
        ann.token,
        403,
        "passkey_verification_failed",
        json={"credential": other.create(begun["challenge"])},
    )

    # Delete one; the last one cannot be deleted.
    api.ok("DELETE", f"/user/passkeys/{first[0]['id']}", ann.token)
    remaining = api.ok("GET", "/user/passkeys", ann.token)["passkeys"]
    assert [p["display_name"] for p in remaining] == ["laptop"]
    api.refused("DELETE", f"/user/passkeys/{remaining[0]['id']}", ann.token, 409, "last_passkey")
    # The laptop passkey signs in.
    assert api.sign_in("ann@example.com", laptop)["email"] == "ann@example.com"


def test_well_known_lists_the_origins(api: Client) -> None:
    assert api.ok("GET", "/.well-known/webauthn") == {
        "origins": [ORIGIN, "https://approve.example.test"]
    }


def test_an_invited_member_enrols_a_passkey_before_any_session(
    api: Client, resend: FakeResend
) -> None:
    ann = api.signup(resend, "acme", "ann@example.com")
    api.ok(
        "POST",
        "/team/members/invite",
        ann.token,
        status=201,
        json={"email": "carol@example.com", "role": "approver"},
    )
    token = resend.link_token("carol@example.com")
    accepted = api.ok("POST", "/team/members/accept", json={"token": token, "password": PASSWORD})
    assert accepted["needs_passkey_setup"] is True and "session_token" not in accepted
    carol = SoftAuthenticator(origin=ORIGIN)
    api.enrol(accepted["passkey_setup_token"], carol)
    assert api.sign_in("carol@example.com", carol)["email"] == "carol@example.com"
