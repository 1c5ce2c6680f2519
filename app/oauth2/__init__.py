"""OAuth 2 credentials: TAP holds the client and refresh secrets and injects short-lived tokens.

* :mod:`app.oauth2.bundle`: the credential value (what a human enters), parsed and validated.
* :mod:`app.oauth2.token_endpoint`: one token request (refresh-token or client-credentials grant).
* :mod:`app.oauth2.tokens`: the access token of a credential: cached, refreshed by one
  replica at a time, and refreshed again when an upstream says 401.
* :mod:`app.oauth2.backoff`: no refresh storm after the endpoint refused one.
"""
