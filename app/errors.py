"""Every error TAP raises on purpose, in one place.

The tree::

    TapError
    ├── ConfigError            a setting is missing or malformed (start-up, exit 2)
    ├── InvalidInput           an operator- or admin-supplied value is malformed
    │   └── InvalidCredentialValue a credential value does not fit its kind
    ├── StoreError             the database cannot do what was asked
    │   ├── DatabaseUnavailable    it cannot be reached at all
    │   ├── NotFound               a row that must exist does not
    │   ├── AlreadyExists          a unique name is taken
    │   └── WrongEncryptionKey     the key does not open this database's canary
    ├── CryptoError            a ciphertext does not open, or a key is malformed
    ├── RotationError          a master-key rotation cannot start, go on or finish
    └── ApiError               an HTTP request is refused (the one JSON rendering)
        ├── the request's shape, any endpoint (400/404/405/408/413/415/431)
        │   InvalidJson, JsonNotObject, ValidationFailed, CredentialValueRejected,
        │   MalformedRequest, RouteNotFound,
        │   MethodNotAllowed, RequestTimeout, PayloadTooLarge, UnsupportedMediaType,
        │   HeadersTooLarge
        ├── GET /attestation: InvalidNonce (400), AttestationUnavailable (503)
        ├── ProxyError         an agent's request is refused (adds agent_action, safe_to_retry)
        │   ├── 400   control headers, targets, credential-link requests, injection
        │   ├── 401   Unauthorized, MissingTapKey
        │   ├── 403   Forbidden, CredentialNotAllowed, TargetNotAllowed, HostNotAllowed
        │   ├── 404   NotFoundError: CredentialNotFound, AgentNotConfigured, TransactionNotFound
        │   ├── 429   RateLimited, TooManyPending
        │   └── 5xx   CredentialUnreadable, UpstreamError, OAuthRefreshFailed, ServiceUnavailable
        └── AdminError         a person's request to the admin API is refused (tree below;
                               approval channels: ChannelNotConfigured, PushDisabled,
                               InvalidSubscription, ChannelUnavailable, WebhookUnauthorized)

Every :class:`ApiError` carries its HTTP ``status`` and a stable ``code`` (the
``error`` member of the JSON body) as class attributes, so each refusal has
its own code and a client can branch on it. :meth:`ApiError.to_json` is the
only place a body is built. Store errors are translated into API errors by
the app's error handler (:func:`app.web.as_api_error`), never rendered as
they are. NOTE: messages never contain a secret value; callers build them
from names and ids only.
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


class InvalidCredentialValue(InvalidInput):
    """A credential value does not fit its kind (:mod:`app.credential_kinds`).

    ``field`` names the value's field (``value.secret_access_key``), or
    ``value`` for the whole value. NOTE: the problem never quotes the value.
    """


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


class RotationError(TapError):
    """A master-key rotation cannot start, go on or finish; nothing was retired.

    NOTE: messages name versions, fingerprints and rows, never key material.
    """


class ApiError(TapError):
    """A request to any HTTP endpoint is refused; the one class the app's error handler renders.

    ``status`` and ``code`` are stable per subclass. ``agent_action`` and
    ``safe_to_retry`` are set by the families that answer agents; a family
    that leaves them ``None`` (the admin API) does not put them in the body.
    """

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    agent_action: ClassVar[str | None] = None
    safe_to_retry: ClassVar[bool | None] = None

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def to_json(self) -> dict[str, Any]:
        """The JSON error body: ``error``, ``message``, the agent hints if set, then ``extra``."""
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.agent_action is not None:
            body["agent_action"] = self.agent_action
        if self.safe_to_retry is not None:
            body["safe_to_retry"] = self.safe_to_retry
        body.update(self.extra)
        return body


class ProxyError(ApiError):
    """An agent's request is refused. The body tells the agent what to do next."""

    agent_action: ClassVar[str | None] = "Fix the request and try again."
    safe_to_retry: ClassVar[bool | None] = False


# 400 -------------------------------------------------------------------------


class InvalidJson(ApiError):
    """The body of a JSON endpoint is empty, not UTF-8, or not strict JSON.

    Strict means: no ``NaN``/``Infinity``, no key twice in one object, nesting
    within the parser's depth limit.
    """

    code = "invalid_json"
    agent_action = "Send a JSON object body (UTF-8) with Content-Type: application/json."
    safe_to_retry = False


class JsonNotObject(InvalidJson):
    """The body is valid JSON but not an object (an array, a number, a string, null)."""

    code = "json_not_object"


class ValidationFailed(ApiError):
    """The body, query string or path parameter does not match the endpoint's declared shape.

    Raised for a missing or unknown field, a value of the wrong JSON type (no
    coercion: ``42`` is not a string, ``"true"`` is not a boolean), or a value
    out of range; ``problems`` lists each field and what is wrong with it.
    """

    code = "invalid_input"


class CredentialValueRejected(ApiError):
    """A credential value does not fit its kind; ``field`` names the field (never its value)."""

    code = "invalid_credential_value"


class RouteNotFound(ApiError):
    """No endpoint answers at this path."""

    status = 404
    code = "not_found"


class MethodNotAllowed(ApiError):
    """The route exists but not for this HTTP method."""

    status = 405
    code = "method_not_allowed"
    agent_action = "Use the documented HTTP method for this endpoint."


class PayloadTooLarge(ApiError):
    """The request body exceeds the cap of its endpoint."""

    status = 413
    code = "payload_too_large"
    agent_action = "Send a smaller body."
    safe_to_retry = False


class UnsupportedMediaType(ApiError):
    """The body's media type is not one this endpoint reads."""

    status = 415
    code = "unsupported_media_type"


class MalformedRequest(ApiError):
    """The HTTP request could not be read as a request to this endpoint (the framework refused it)."""

    code = "bad_request"


class RequestTimeout(ApiError):
    """The client did not send the whole request in time."""

    status = 408
    code = "request_timeout"


class HeadersTooLarge(ApiError):
    """The request headers exceed the server's limit."""

    status = 431
    code = "headers_too_large"


class BadRequest(ProxyError):
    """The agent's request is malformed. Raised only through a subclass with its own code."""


class MissingCredential(BadRequest):
    """``/forward`` names no credential: no ``X-TAP-Credential`` and no ``<CREDENTIAL:...>`` placeholder."""

    code = "missing_credential"
    agent_action = (
        "Send X-TAP-Credential with a name from GET /agent/services, or reference one as "
        "<CREDENTIAL:name> in a header."
    )


class EndUserNotSupported(BadRequest):
    """``X-TAP-End-User`` was sent; this deployment has no end-user scoped credentials."""

    code = "end_user_not_supported"
    agent_action = "Remove the X-TAP-End-User header."


class SecretNotAccepted(BadRequest):
    """A credential-link request carried a value or secret; agents never send secrets to TAP."""

    code = "secret_not_accepted"
    agent_action = "Send only the credential's name and metadata; a human enters the secret."


class InvalidCredentialName(BadRequest):
    """A credential name is not 1-64 lowercase letters, digits or hyphens."""

    code = "invalid_credential_name"
    agent_action = "Use a name such as github, stripe-test or openai."


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


class TargetTooLong(InvalidTarget):
    """``X-TAP-Target`` is longer than TAP accepts."""

    code = "target_too_long"


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


class PlainHttpNotAllowed(Forbidden):
    """The target is plain ``http://`` and the credential does not allow http."""

    code = "plain_http_not_allowed"
    agent_action = (
        "Use the https:// URL. A credential is sent over plain http only when its "
        "allow_http setting is on."
    )


class NotFoundError(ProxyError):
    """What an agent named does not exist for it. Raised only through a subclass, one per meaning."""

    status = 404
    code = "not_found"
    agent_action = "Check the name or id."


class AgentNotConfigured(NotFoundError):
    """The agent has no credential it may use, so there is no configuration to show."""

    code = "agent_not_configured"
    agent_action = "Ask a human to grant you credentials."


class TransactionNotFound(NotFoundError):
    """No parked request with this id (unknown, malformed, or already delivered and purged)."""

    code = "transaction_not_found"
    agent_action = "Check the txn_id from the 202 answer; a finished result is delivered once."


class NotYourTransaction(ProxyError):
    """The parked request belongs to another agent."""

    status = 403
    code = "not_your_transaction"
    agent_action = "Poll only the txn_id your own request received."


class CredentialNotFound(NotFoundError):
    """The credential does not exist in the agent's team."""

    code = "credential_not_found"
    agent_action = "Ask a human to create it: open credential_link_url (never send the secret to TAP yourself)."


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


class UpstreamDnsError(UpstreamError):
    """The target's host name did not resolve; nothing was sent upstream."""

    code = "upstream_dns_error"
    agent_action = (
        "Check the host name in X-TAP-Target; if it is right, retry shortly "
        "(name resolution can fail for a moment)."
    )
    safe_to_retry = True


class OAuthRefreshFailed(ProxyError):
    """An OAuth 2 credential's token endpoint refused, or could not be reached for, a new token.

    ``oauth_error`` names the endpoint's RFC 6749 error code (``invalid_grant``,
    ``invalid_client``, ...) or what went wrong on the way (``unreachable``,
    ``invalid_response``). NOTE: never the endpoint's body or its
    ``error_description``: an authorization server may echo the client secret
    or the refresh token back in them.
    """

    status = 502
    code = "oauth_refresh_failed"
    agent_action = (
        "The credential's authorization was refused or is unavailable; ask a human to "
        "re-authorize it (POST /team/credentials/<name>/verify shows the cause)."
    )


class ServiceUnavailable(ProxyError):
    """TAP cannot reach its database; nothing was forwarded."""

    status = 503
    code = "service_unavailable"
    agent_action = "Retry shortly; nothing was forwarded."
    safe_to_retry = True


# GET /attestation -------------------------------------------------------------------


class InvalidNonce(ApiError):
    """The attestation nonce is not 16 to 128 hex or base64url characters."""

    code = "invalid_nonce"


class AttestationUnavailable(ApiError):
    """The instance runs in a confidential container but no attestation token could be obtained."""

    status = 503
    code = "attestation_unavailable"


# Admin API -----------------------------------------------------------------------
#
#   AdminError                 a person's request to the admin API is refused
#   ├── InvalidApprovalMode (400)  default_approval_mode is not a mode
#   ├── InvalidCode (400)          an emailed code is wrong, expired or used up
#   ├── InvalidCredentialValue (400) a field of a multi-field credential value is wrong
#   ├── VerifyUnsupported (400)    no verification exists for this credential's kind
#   ├── Unauthenticated (401)      no session, or an unknown or expired one
#   │   └── InvalidCredentials         wrong email or password (one message for both)
#   ├── Forbidden403 family (403)  PermissionDenied, EmailNotVerified, SessionScopeDenied,
#   │                              AgentKeyRefused, NotATeamMember
#   ├── ResourceNotFound (404)     no such object in the caller's team (the admin API's one not-found)
#   ├── Conflict (409)
#   │   └── NameTaken                 a unique name is taken (error: already_exists)
#   ├── Expired (410)              an invite that existed but ran out
#   └── TooManyAttempts (429)      a brute-force bound was reached


class AdminError(ApiError):
    """A request to the admin API is refused. Rendered as ``{"error", "message", ...}``."""


class InvalidApprovalMode(AdminError):
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


class NameTaken(Conflict):
    """A unique name (credential, agent, role, channel, account) is taken."""

    code = "already_exists"


class Expired(AdminError):
    """The invite existed but has expired."""

    status = 410
    code = "expired"


class TooManyAttempts(AdminError):
    """A brute-force bound was reached; ``retry_after_secs`` says when to try again."""

    status = 429
    code = "too_many_attempts"


class AuditVerifyRunning(AdminError):
    """A verification of this team's audit chain is already running (on any worker or replica)."""

    status = 429
    code = "audit_verify_running"


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


class AuthModeUnavailable(ProxyError):
    """``X-TAP-Auth-Mode`` asks for a scheme this credential cannot use (its fields are missing)."""

    code = "auth_mode_unavailable"
    agent_action = (
        "Drop X-TAP-Auth-Mode (or send auto); /agent/services names what this credential does."
    )


class RequestNotSignable(ProxyError):
    """The request cannot be signed as its credential's kind requires (e.g. a form body that
    is not ``application/x-www-form-urlencoded`` text)."""

    code = "request_not_signable"
    agent_action = "Send a body the upstream's signature scheme can cover; see /agent/services."


class VerifyUnsupported(AdminError):
    """``POST /team/credentials/{name}/verify`` has no check for this credential's kind."""

    code = "verify_unsupported"


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


class OperatorNotEligible(DecisionError):
    """The operator's single vote cannot settle this request under its policy.

    Raised for a request whose policy names allowed approvers, needs more than
    one approval, or (to approve) a passkey; only a break-glass override with a
    reason may decide it then.
    """

    status = 403
    code = "operator_not_eligible"


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


# Approval channels ------------------------------------------------------------------


class ChannelNotConfigured(AdminError):
    """The chat channel named in the path is not set up on this TAP (no bot token)."""

    status = 404
    code = "channel_not_configured"


class PushDisabled(AdminError):
    """Web push has no VAPID keys on this TAP; the UI hides its toggle."""

    status = 404
    code = "push_disabled"


class InvalidSubscription(AdminError):
    """A push subscription is missing a field, or its endpoint is not a public https URL."""

    code = "invalid_subscription"


class ChannelUnavailable(AdminError):
    """The chat or push service did not answer; nothing was sent."""

    status = 503
    code = "channel_unavailable"


class WebhookUnauthorized(AdminError):
    """A Telegram webhook call without the configured secret token."""

    status = 401
    code = "webhook_unauthorized"
