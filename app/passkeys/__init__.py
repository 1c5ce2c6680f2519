"""Passkeys: the WebAuthn relying party, request-bound approvals, and their evidence.

- :mod:`app.passkeys.relying_party` runs the ceremonies (py_webauthn) with
  user verification required, and turns the library's errors into ours.
- :mod:`app.passkeys.canonical` builds the canonical request a passkey
  approval signs: its SHA-256 is the WebAuthn challenge.
- :mod:`app.passkeys.evidence` re-checks a stored approval offline, from the
  signed bytes alone.
"""
