"""Postgres storage: the pool, migrations, and one module per aggregate.

SQL lives only in this package. Every query on team data takes ``team_id``.
asyncpg's exceptions are translated into :mod:`app.errors` here (see
:func:`app.store.db.translate_errors`) and never escape above it.
"""
