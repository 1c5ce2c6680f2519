"""Loaded by every Python process of a soak run (the PYTHONPATH points here).

When ``TAP_SOAK_PROBE_DIR`` is set, a daemon thread writes the number of live
asyncio tasks of this process to ``<dir>/<pid>`` every second, so the soak
harness can count tasks in TAP's workers without TAP exposing anything.
Outside a soak run (the variable unset) it does nothing.
"""

from __future__ import annotations

import os
import threading
import time


def _report(directory: str) -> None:
    import asyncio.tasks

    path = os.path.join(directory, str(os.getpid()))
    while True:
        try:
            # NOTE: the registry of live tasks (a WeakSet); len() is safe from another thread.
            count = len(asyncio.tasks._all_tasks)  # type: ignore[attr-defined]
            with open(path + ".tmp", "w") as handle:
                handle.write(str(count))
            os.replace(path + ".tmp", path)
        except Exception:  # noqa: BLE001,S110 -- a probe must never disturb the process
            pass
        time.sleep(1)


_DIRECTORY = os.environ.get("TAP_SOAK_PROBE_DIR")
if _DIRECTORY:
    threading.Thread(target=_report, args=(_DIRECTORY,), daemon=True, name="soak-probe").start()
