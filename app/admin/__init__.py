"""The human side of TAP over HTTP: accounts, sessions, teams and the ``/team/*`` API.

One blueprint per area; :func:`register` mounts them all. Each endpoint is
declared with :func:`app.admin.contract.operation`, which also feeds the
OpenAPI document served at ``/openapi.json``.
"""

from __future__ import annotations

from quart import Quart


def register(app: Quart) -> None:
    """Mount every admin blueprint on ``app``."""
    from app.admin import (
        accounts,
        agents,
        approvals,
        approve,
        audit,
        audit_export,
        channels,
        credentials,
        devlogin,
        invitations,
        members,
        openapi,
        passkeys,
        policies,
        policy_tester,
        roles,
        team,
    )

    for module in (
        accounts,
        team,
        credentials,
        agents,
        roles,
        policies,
        policy_tester,
        audit,
        audit_export,
        members,
        invitations,
        approvals,
        approve,
        passkeys,
        channels,
        devlogin,
        openapi,
    ):
        app.register_blueprint(module.blueprint)
