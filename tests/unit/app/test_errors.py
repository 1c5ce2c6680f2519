"""The error tree: one rendering, and a stable code of its own for every refusal that is raised."""

from __future__ import annotations

import pytest

from app import errors

# Bases that are never raised themselves; each raised refusal is a subclass with its own code.
ABSTRACT = {
    errors.ApiError,
    errors.ProxyError,
    errors.AdminError,
    errors.BadRequest,
    errors.Forbidden,
    errors.NotFoundError,
}
# NOTE: deliberately one code: "nothing is at this address for you", whether no
# route or no object in the caller's team matches (existence is not revealed).
SHARED = {"not_found": {"RouteNotFound", "ResourceNotFound"}}


def _tree(cls: type[errors.ApiError]) -> list[type[errors.ApiError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_tree(sub)]
    return found


REFUSALS = [cls for cls in _tree(errors.ApiError) if cls not in ABSTRACT]


@pytest.mark.parametrize("cls", REFUSALS, ids=lambda c: c.__name__)
def test_every_refusal_declares_its_own_code_and_docstring(cls: type[errors.ApiError]) -> None:
    assert "code" in cls.__dict__, f"{cls.__name__} inherits {cls.code!r}"
    assert cls.__doc__ and cls.__doc__.strip()
    assert 400 <= cls.status < 600


def test_codes_are_unique_except_where_a_meaning_is_shared_on_purpose() -> None:
    by_code: dict[str, set[str]] = {}
    for cls in REFUSALS:
        by_code.setdefault(cls.code, set()).add(cls.__name__)
    shared = {code: names for code, names in by_code.items() if len(names) > 1}
    assert shared == SHARED


def test_one_to_json_for_both_families() -> None:
    agent = errors.CredentialNotAllowed(
        "Credential 'x' is not allowed.", services_url="/agent/services"
    )
    admin = errors.ResourceNotFound("no such agent")
    assert type(agent).to_json is type(admin).to_json is errors.ApiError.to_json
    assert agent.to_json() == {
        "error": "credential_not_allowed",
        "message": "Credential 'x' is not allowed.",
        "agent_action": errors.CredentialNotAllowed.agent_action,
        "safe_to_retry": False,
        "services_url": "/agent/services",
    }
    # The admin API's bodies carry no agent hints.
    assert admin.to_json() == {"error": "not_found", "message": "no such agent"}


def test_body_shape_errors_are_shared_by_every_endpoint() -> None:
    for cls in (
        errors.InvalidJson,
        errors.JsonNotObject,
        errors.ValidationFailed,
        errors.PayloadTooLarge,
    ):
        assert not issubclass(cls, (errors.ProxyError, errors.AdminError))
