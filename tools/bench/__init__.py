"""``make bench``: TAP measured side by side with its baselines, on loopback.

``python -m tools.bench.run`` starts every system it measures, drives it with
``wrk`` (saturation) and ``hey`` (fixed offered rates), stops everything, prints
a table, writes raw JSON under ``tools/bench/out/`` and rewrites
``docs/performance.md``. See ``tools/bench/run.py`` for the phases.
"""
