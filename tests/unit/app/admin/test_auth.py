from __future__ import annotations

import pytest

from app.admin.auth import CAPABILITIES, MANAGER_CAPABILITIES


@pytest.mark.parametrize("capability", sorted(MANAGER_CAPABILITIES))
def test_owners_and_admins_manage_everything(capability: str) -> None:
    assert capability in CAPABILITIES["owner"] and capability in CAPABILITIES["admin"]


def test_only_owners_change_roles_and_invite_owners() -> None:
    assert {"change_member_roles", "invite_owners"} <= CAPABILITIES["owner"]
    assert not {"change_member_roles", "invite_owners"} & CAPABILITIES["admin"]


def test_approvers_approve_and_manage_only_their_own_keys() -> None:
    approver = CAPABILITIES["approver"]
    assert approver == {
        "view_team",
        "approve_requests",
        "view_assigned_credentials",
        "manage_own_agents",
    }
