"""TAP: a credential-isolating HTTP proxy for AI agents.

The service lives in this package: configuration (:mod:`app.config`), the
recipe layer for our cryptography (:mod:`app.crypto`), the Postgres store
(:mod:`app.store`), the ``/forward`` pipeline (:mod:`app.proxy`) and the
Quart application factory (:mod:`app.web`).
"""
