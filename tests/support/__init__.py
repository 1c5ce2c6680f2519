"""Test helpers: a real Postgres, a real tap-proxy, and loopback fakes."""
