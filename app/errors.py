"""Every error TAP raises on purpose, in one place.

The tree::

    TapError
    ├── ConfigError            a setting is missing or malformed (start-up, exit 2)
    ├── InvalidInput           an operator- or admin-supplied value is malformed
    ├── StoreError             the database cannot do what was asked
    │   ├── DatabaseUnavailable    it cannot be reached at all
    │   ├── NotFound               a row that must exist does not
    │   ├── AlreadyExists          a unique name is taken
    │   └── WrongEncryptionKey     the key does not open this database's canary
    ├── CryptoError            a ciphertext does not open, or a key is malformed
    └── ProxyError             an agent request is refused (rendered as JSON)
        ├── BadRequest ... (400)     the request itself is malformed
        ├── Unauthorized (401)       no valid TAP key
        ├── Forbidden ... (403)      the agent may not do this
        ├── NotFoundError (404)
        ├── RateLimited, TooManyPending (429)
        ├── UpstreamError (502)      the upstream could not be reached
        └── ServiceUnavailable (503) our database hiccupped; retry is safe

A :class:`ProxyError` carries its HTTP ``status``, a stable ``code`` (the
``error`` member of the JSON body), an ``agent_action`` telling an agent what
to do next and ``safe_to_retry``. NOTE: messages never contain a secret
value; callers build them from names and ids only.
"""

from __future__ import annotations

from typing import Any, ClassVar


class TapError(Exception):
    """Base class of every error TAP raises on purpose."""


class ConfigError(TapError):
    """A setting is missing or malformed. Raised at start-up only."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class InvalidInput(TapError):
    """A value given by an operator or admin is malformed (a name, a host, a limit)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class StoreError(TapError):
    """The database could not do what was asked."""


class DatabaseUnavailable(StoreError):
    """The database cannot be reached or dropped the connection."""


class NotFound(StoreError):
    """A row that the caller named does not exist (in this team)."""


class AlreadyExists(StoreError):
    """A row with this unique name already exists (in this team)."""


class WrongEncryptionKey(StoreError):
    """The master key does not open this database's key canary."""


class CryptoError(TapError):
    """A ciphertext failed to open or a key is malformed.

    NOTE: like ``cryptography``'s ``InvalidTag`` it says nothing about why, so
    it cannot become an oracle.
    """


class ProxyError(TapError):
    """A request is refused. Rendered once, by the app's error handler."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    agent_action: ClassVar[str] = "Fix the request and try again."
    safe_to_retry: ClassVar[bool] = False

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "error": self.code,
            "message": self.message,
            "agent_action": self.agent_action,
            "safe_to_retry": self.safe_to_retry,
        }
        body.update(self.extra)
        return body


# 400 -------------------------------------------------------------------------


class BadRequest(ProxyError):
    """The request is malformed (generic)."""


class InvalidJson(ProxyError):
    """The body is not the JSON object this endpoint expects."""

    code = "invalid_json"
    agent_action = "Send a JSON object body with Content-Type: application/json."


class UnknownTapHeader(ProxyError):
    """An ``X-TAP-*`` header that TAP does not define was sent."""

    code = "unknown_tap_header"
    agent_action = (
        "Remove the header. Only the documented X-TAP-* headers are accepted; other "
        "headers pass through to the upstream unchanged and request bodies go in the HTTP body."
    )


class DuplicateHeader(ProxyError):
    """A control header was sent more than once."""

    code = "duplicate_header"
    agent_action = "Send each X-TAP-* header once."


class MissingTarget(ProxyError):
    """``X-TAP-Target`` is absent."""

    code = "missing_target"
    agent_action = "Set X-TAP-Target to the full upstream URL (or a path for relative credentials)."


class InvalidTarget(ProxyError):
    """The target is not a usable http(s) URL, or a relative path escapes ``api_base``."""

    code = "invalid_target"
    agent_action = "Send an absolute http(s) URL, or a plain path for relative credentials."


class InvalidMethod(ProxyError):
    """``X-TAP-Method`` is not an HTTP method token."""

    code = "invalid_method"
    agent_action = "Set X-TAP-Method to an HTTP method such as GET or POST."


class InvalidAuthMode(ProxyError):
    """``X-TAP-Auth-Mode`` is not one of the supported modes."""

    code = "invalid_auth_mode"


class PlaceholderViolation(ProxyError):
    """A credential placeholder stands where secrets may not go."""

    code = "placeholder_position_violation"
    agent_action = (
        "Use <CREDENTIAL:name> only in Authorization, X-Api-Key, X-Auth-Token or the "
        "credential's bound headers; never in the URL, query or body."
    )


class MultiSecretUnbound(ProxyError):
    """A JSON-object credential has no binding saying where each field goes."""

    code = "multi_secret_unbound"
    agent_action = "Ask a human to add auth bindings for this credential in the dashboard."


class CredentialFieldMissing(ProxyError):
    """A binding names a field the credential value does not have."""

    code = "credential_field_missing"
    agent_action = "Ask a human to fix the credential's bindings or value."


class CredentialNotConfigured(ProxyError):
    """The credential exists but has no value stored."""

    code = "credential_not_configured"
    agent_action = "Ask a human to set the credential's value."


class CredentialUnreadable(ProxyError):
    """The stored value does not open with this server's key (it was moved, or the key changed)."""

    status = 500
    code = "credential_unreadable"
    agent_action = "Do not retry; ask a human to re-enter the credential's value."


class PayloadTooLarge(ProxyError):
    """The request body exceeds the cap."""

    status = 413
    code = "payload_too_large"
    agent_action = "Send a smaller body."


# 401 / 403 / 404 -----------------------------------------------------------------


class Unauthorized(ProxyError):
    """No TAP key, or one that is unknown or disabled."""

    status = 401
    code = "invalid_tap_key"
    agent_action = "Check TAP_API_KEY; ask a human for a new key if it was disabled or rotated."


class MissingTapKey(Unauthorized):
    """No ``X-TAP-Key`` header at all."""

    code = "missing_tap_key"
    agent_action = "Send your TAP key in the X-TAP-Key header."


class Forbidden(ProxyError):
    """The agent may not do this."""

    status = 403
    code = "forbidden"
    agent_action = "Do not retry; ask a human if you need access."


class CredentialNotAllowed(Forbidden):
    """The credential is not granted to this agent (or does not exist)."""

    code = "credential_not_allowed"
    agent_action = "Call GET /agent/services to see the credentials you may use."


class TargetNotAllowed(Forbidden):
    """The SSRF guard refused the destination."""

    code = "target_not_allowed"
    agent_action = "Use a public http(s) URL; private, loopback and metadata addresses are refused."


class HostNotAllowed(Forbidden):
    """The destination host is not in the credential's ``allowed_hosts``."""

    code = "host_not_allowed"
    agent_action = "Send the request to one of the credential's allowed hosts."


class NotFoundError(ProxyError):
    """The named object does not exist (for this caller)."""

    status = 404
    code = "not_found"
    agent_action = "Check the name or id."


class CredentialNotFound(NotFoundError):
    """The credential does not exist in the agent's team."""

    code = "credential_not_found"
    agent_action = "Ask a human to create it: open credential_link_url (never send the secret to TAP yourself)."


class MethodNotAllowed(ProxyError):
    """The route exists but not for this HTTP method."""

    status = 405
    code = "method_not_allowed"
    agent_action = "Use the documented HTTP method for this endpoint."


# 429 / 5xx -----------------------------------------------------------------------


class RateLimited(ProxyError):
    """The agent used its hourly allowance."""

    status = 429
    code = "rate_limited"
    agent_action = "Wait until retry_after_secs has passed, then retry."
    safe_to_retry = True


class TooManyPending(ProxyError):
    """Parking this request would pass a pending-approval cap (per agent, per team, bytes)."""

    status = 429
    code = "too_many_pending_approvals"
    agent_action = (
        "Wait until some of your pending requests are decided or time out, then retry; "
        "do not resend requests that are still pending."
    )
    safe_to_retry = True


class UpstreamError(ProxyError):
    """The upstream could not be reached or did not answer in time."""

    status = 502
    code = "upstream_error"
    agent_action = "Check the target URL; the request may be retried if it is idempotent."


class ServiceUnavailable(ProxyError):
    """TAP cannot reach its database; nothing was forwarded."""

    status = 503
    code = "service_unavailable"
    agent_action = "Retry shortly; nothing was forwarded."
    safe_to_retry = True


# Admin API -----------------------------------------------------------------------
#
#   AdminError                 a person's request to the admin API is refused
#   ├── ValidationFailed (400)     the body, query or path does not match the contract
#   ├── InvalidCode (400)          an emailed code is wrong, expired or used up
#   ├── Unauthenticated (401)      no session, or an unknown or expired one
#   │   └── InvalidCredentials         wrong email or password (one message for both)
#   ├── Forbidden403 family (403)  PermissionDenied, EmailNotVerified, SessionScopeDenied,
#   │                              AgentKeyRefused, NotATeamMember
#   ├── ResourceNotFound (404)
#   ├── Conflict (409)
#   ├── Expired (410)              an invite that existed but ran out
#   └── TooManyAttempts (429)      a brute-force bound was reached


class AdminError(TapError):
    """A request to the admin API is refused. Rendered once, as ``{"error", "message", ...}``."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        body.update(self.extra)
        return body


class ValidationFailed(AdminError):
    """The request body, query string or path parameter does not match the contract."""

    code = "invalid_input"


class InvalidApprovalMode(ValidationFailed):
    """``default_approval_mode`` is neither ``gated`` nor ``autonomous``."""

    code = "invalid_approval_mode"


class InvalidCode(AdminError):
    """An emailed code is wrong, expired, or has used up its attempts."""

    code = "invalid_code"


class Unauthenticated(AdminError):
    """No bearer session, or one that is unknown, expired or no longer a member's."""

    status = 401
    code = "unauthorized"


class InvalidCredentials(Unauthenticated):
    """Login failed. NOTE: one message for an unknown email and a wrong password."""

    code = "invalid_credentials"


class PermissionDenied(AdminError):
    """The caller's team role does not allow this action."""

    status = 403
    code = "forbidden"


class EmailNotVerified(PermissionDenied):
    """The account has not verified its email address yet."""

    code = "email_not_verified"


class SessionScopeDenied(PermissionDenied):
    """A narrow session (passkey setup) was used outside what it may reach."""

    code = "session_scope"


class AgentKeyRefused(PermissionDenied):
    """An agent key was presented to the admin API; agents never manage or approve."""

    code = "agent_key_not_allowed"


class NotATeamMember(PermissionDenied):
    """The caller asked to act in a team they do not belong to."""

    code = "not_a_member"


class ResourceNotFound(AdminError):
    """The named object does not exist in the caller's active team (or is not visible to them)."""

    status = 404
    code = "not_found"


class Conflict(AdminError):
    """The object already exists, or the request clashes with the current state."""

    status = 409
    code = "conflict"


class Expired(AdminError):
    """The invite existed but has expired."""

    status = 410
    code = "expired"


class TooManyAttempts(AdminError):
    """A brute-force bound was reached; ``retry_after_secs`` says when to try again."""

    status = 429
    code = "too_many_attempts"


# Appended by the pure /forward stages (target, inject, placeholders) ----------------


class CredentialMisconfigured(ProxyError):
    """The credential's stored configuration cannot be used as it stands.

    Raised for a ``relative_target`` credential without a usable ``api_base``,
    a binding whose header name is not an HTTP token, or a value that would put
    a control character into a header. NOTE: the message names the credential
    and the problem, never the value.
    """

    code = "credential_misconfigured"
    agent_action = "Ask a human to fix this credential's configuration; retrying will not help."


# Approval decisions (app.approvals.decisions) -----------------------------------


class DecisionError(AdminError):
    """A decision on an approval request was refused (any surface: API, CLI, chat)."""

    status = 409
    code = "decision_refused"


class ApprovalNotFound(DecisionError):
    """No request with this id in this team."""

    status = 404
    code = "approval_not_found"


class AlreadyDecided(DecisionError):
    """The request is no longer pending (decided, forwarded or expired)."""

    status = 409
    code = "already_decided"


class NotAnApprover(DecisionError):
    """The request's ``allowed_approvers`` does not name this voter."""

    status = 403
    code = "not_an_allowed_approver"


class PasskeyRequired(DecisionError):
    """The credential's policy requires a passkey step for approvals."""

    status = 412
    code = "passkey_required"


# Passkeys (app.passkeys, app.admin.passkeys, app.admin.approve) ---------------------


class PasskeyUnavailable(Forbidden):
    """The policy requires a passkey approval, but this deployment has no WebAuthn set up.

    NOTE: refused at once; parking the request would make it wait for a human
    who has no way to approve it.
    """

    code = "passkey_unavailable"
    agent_action = (
        "Do not retry: this credential needs a passkey approval and passkeys are not set up "
        "on this TAP. Ask a human to configure WebAuthn or change the policy."
    )


class PasskeysDisabled(ResourceNotFound):
    """WebAuthn is not configured (WEBAUTHN_RP_ID, WEBAUTHN_RP_ORIGIN and an app URL)."""

    code = "passkeys_disabled"


class PasskeyVerificationFailed(PermissionDenied):
    """An assertion or attestation did not verify, or names a passkey that is not the caller's."""

    code = "passkey_verification_failed"


class NoPasskeys(AdminError):
    """The caller has no passkey to answer a challenge with."""

    status = 412
    code = "no_credentials"


class StaleChallenge(Conflict):
    """No live challenge for this ceremony: never begun, already answered, or expired."""

    code = "stale_challenge"


class RequestChanged(Conflict):
    """The request an approval challenge was made for is no longer the request that would run."""

    code = "request_changed"


class LastPasskey(Conflict):
    """Deleting this passkey would leave a passkey-only account without one."""

    code = "last_passkey"


class ApprovalGone(AdminError):
    """The request is resolved, expired or no longer exists."""

    status = 410
    code = "session_expired"


class NotAllowedToDecide(PermissionDenied):
    """The caller may not decide this request (another team, not assigned, not an allowed approver)."""

    code = "not_authorized"


class EvidenceInvalid(TapError):
    """A check of stored passkey evidence failed; names the check, what it expected and found."""

    def __init__(self, check: str, *, expected: str, actual: str) -> None:
        super().__init__(f"{check}: expected {expected}, found {actual}")
        self.check = check
        self.expected = expected
        self.actual = actual


class SignedRequestChanged(Forbidden):
    """After a passkey approval, the request would go somewhere other than what was signed."""

    code = "approved_request_changed"
    agent_action = "Send the request again; a human must approve the request as it now stands."
