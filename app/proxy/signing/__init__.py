"""Request signers for the credential kinds that sign rather than insert a secret.

Each module wraps one well-kept library (``oauthlib`` for OAuth 1.0a,
``botocore`` for AWS Signature V4) behind one function that takes the final
request (method, URL, headers, body) and returns the headers to add. Library
errors are translated into ours here and nowhere else.
"""
