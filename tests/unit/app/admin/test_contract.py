from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import BaseModel
from quart import Blueprint

from app.admin.contract import Operation, path_value
from app.errors import ResourceNotFound


def test_operation_path_is_the_openapi_form() -> None:
    op = Operation(
        "DELETE", "/team/members/<member_id>/credentials/<credential>", "x", "members", {200: None}
    )
    assert op.path == "/team/members/{member_id}/credentials/{credential}"
    assert op.path_params == ["member_id", "credential"]


@pytest.mark.parametrize("raw", ["Bad Name", "a\u0000b", "x" * 65, ""])
def test_path_values_that_cannot_name_anything_are_404(raw: str) -> None:
    with pytest.raises(ResourceNotFound):
        path_value(raw, re.compile(r"^[a-z0-9-]{1,64}$"), "credential")


def test_every_operation_is_on_its_blueprint() -> None:
    from quart import Quart

    from app.admin import accounts, contract, register

    register(Quart("contract-test"))  # imports every module, which declares its operations
    assert isinstance(accounts.blueprint, Blueprint)
    assert {op.tag for op in contract.OPERATIONS} >= {
        "accounts",
        "team",
        "credentials",
        "members",
        "approvals",
    }


@pytest.mark.parametrize(
    ("authenticated", "permission"),
    [
        # A permission nobody's role grants would refuse everyone: a typo, caught at import.
        (True, "manage_everything"),
        # A permission on a public operation cannot be checked.
        (False, "manage_members"),
    ],
)
def test_declaring_an_impossible_permission_fails_at_import(
    authenticated: bool, permission: str
) -> None:
    from app.admin.contract import operation

    with pytest.raises(TypeError):
        operation(
            Blueprint("t", __name__),
            "GET",
            "/x",
            summary="x",
            responses={200: None},
            authenticated=authenticated,
            permission=permission,
        )


# An endpoint served in front of Quart has no view to enforce a session or a model.
@pytest.mark.parametrize(
    "declared",
    [
        {"authenticated": True},
        {"authenticated": False, "body": BaseModel},
        {"authenticated": False, "query": BaseModel},
    ],
)
def test_an_endpoint_outside_quart_declares_nothing_it_cannot_enforce(
    declared: dict[str, Any],
) -> None:
    from app.admin.contract import OPERATIONS, document

    before = list(OPERATIONS)
    with pytest.raises(TypeError):
        document(
            "t", "POST", "/x", summary="x", responses={200: None}, quart_view=False, **declared
        )
    assert before == OPERATIONS
