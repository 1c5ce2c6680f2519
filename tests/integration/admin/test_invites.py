"""Invites prove the address and wait for the invitee (issue 11, findings 4 and 5)."""

from __future__ import annotations

import re

from tests.support.admin_api import PASSWORD, Api


async def test_a_hand_delivered_link_makes_an_unverified_account(api: Api) -> None:
    owner = await api.signup("acme", "ann@example.com")
    api.resend.fail_with = 500  # the invite email fails: the inviter is handed the link
    invited = await api.call(
        "POST", "/team/members/invite", owner.token, json={"email": "victim@example.com"}
    )
    api.resend.fail_with = None
    assert invited.status == 201 and invited.body["email_sent"] is False
    token = re.search(r"invite_token=([0-9a-f]{64})$", invited.body["accept_url"])
    assert token
    # The inviter accepts on the victim's behalf with a password of their own.
    squat = await api.call(
        "POST", "/team/members/accept", json={"token": token.group(1), "password": PASSWORD}
    )
    assert squat.status == 201 and squat.body["email_verified"] is False
    assert "session_token" not in squat.body
    login = await api.call(
        "POST", "/login", json={"email": "victim@example.com", "password": PASSWORD}
    )
    assert login.status == 403 and login.body["error"] == "email_not_verified"
    # The code went to the address; only its owner can complete the account.
    code = api.resend.code_for("victim@example.com")
    verified = await api.call(
        "POST", "/verify-email", json={"email": "victim@example.com", "code": code}
    )
    assert verified.status == 200
    assert (await api.login("victim@example.com")).team_id == owner.team_id


async def test_an_emailed_link_still_signs_the_new_account_in(api: Api) -> None:
    owner = await api.signup("acme", "ann@example.com")
    carol = await api.invite(owner, "carol@example.com")
    me = await api.call("GET", "/user/me", carol.token)
    assert me.status == 200 and me.body["team_id"] == owner.team_id


async def test_login_joins_nothing_and_keeps_the_users_own_team(api: Api) -> None:
    victim = await api.signup("acme", "ann@example.com")
    stranger = await api.signup("evil", "eve@example.com")
    invited = await api.call(
        "POST", "/team/members/invite", stranger.token, json={"email": "ann@example.com"}
    )
    assert invited.status == 201
    login = await api.call(
        "POST", "/login", json={"email": "ann@example.com", "password": PASSWORD}
    )
    assert login.status == 200
    assert login.body["team_id"] == victim.team_id and login.body["joined_teams"] == []
    assert [t["team_id"] for t in login.body["teams"]] == [victim.team_id]
    # A credential the victim adds now lands in their own team.
    members = await api.call("GET", "/team/members", stranger.token)
    assert [m["email"] for m in members.body["members"]] == ["eve@example.com"]


async def test_pending_invites_are_listed_and_accepted_explicitly(api: Api) -> None:
    ann = await api.signup("acme", "ann@example.com")
    bob = await api.signup("bobs", "bob@example.com")
    invited = await api.call(
        "POST", "/team/members/invite", bob.token, json={"email": "ann@example.com"}
    )
    invite_id = invited.body["invite_id"]
    listed = await api.call("GET", "/user/invites", ann.token)
    assert listed.status == 200
    assert [(i["id"], i["team_name"], i["member_role"]) for i in listed.body["invites"]] == [
        (invite_id, "bobs", "approver")
    ]
    # Nobody else can see or accept it.
    assert (await api.call("GET", "/user/invites", bob.token)).body["invites"] == []
    stolen = await api.call("POST", f"/user/invites/{invite_id}/accept", bob.token)
    assert stolen.status == 404
    accepted = await api.call("POST", f"/user/invites/{invite_id}/accept", ann.token)
    assert accepted.status == 200
    # Accepting joins the team but does not switch the active one.
    assert accepted.body["active_team_id"] == ann.team_id
    assert {t["team_id"] for t in accepted.body["teams"]} == {ann.team_id, bob.team_id}
    assert (await api.call("GET", "/user/me", ann.token)).body["team_id"] == ann.team_id
    assert (await api.call("GET", "/user/invites", ann.token)).body["invites"] == []
    again = await api.call("POST", f"/user/invites/{invite_id}/accept", ann.token)
    assert again.status == 404


async def test_a_pending_invite_can_be_declined(api: Api) -> None:
    ann = await api.signup("acme", "ann@example.com")
    bob = await api.signup("bobs", "bob@example.com")
    invited = await api.call(
        "POST", "/team/members/invite", bob.token, json={"email": "ann@example.com"}
    )
    invite_id = invited.body["invite_id"]
    declined = await api.call("DELETE", f"/user/invites/{invite_id}", ann.token)
    assert declined.status == 200
    assert (await api.call("POST", f"/user/invites/{invite_id}/accept", ann.token)).status == 404
    teams = await api.call("GET", "/user/teams", ann.token)
    assert [t["team_id"] for t in teams.body["teams"]] == [ann.team_id]
