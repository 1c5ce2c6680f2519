"""`make soak`: long mixed traffic against a real tap-proxy; its resources must stay flat."""
