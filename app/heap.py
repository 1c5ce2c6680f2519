"""Keep the memory of large response bodies for reuse instead of faulting it in again.

A 10 MiB answer passes through a few buffers of its size (the body as read,
the body as sent). glibc's allocator gives the top of its heap back to the
kernel once more than ``M_TRIM_THRESHOLD`` of it is free, and that threshold
follows the largest buffer freed (about twice its size), so after every
large answer the heap shrinks and the next one faults in each of its 4 KiB
pages again. Measured through a real worker, those page faults were about
half the CPU a 10 MiB answer cost. :func:`keep_freed_memory` fixes both
thresholds once per worker, so body-sized buffers come from the heap and
what is freed is kept for the next answer.

Only glibc has these settings; on any other C library this does nothing.

NOTE: memory kept this way stays inside the worker, as any freed heap memory
does; nothing is handed to another process. The cost is resident memory: up
to :data:`RETAINED_BYTES` more after a burst of large answers.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from typing import Final

logger = logging.getLogger(__name__)

RETAINED_BYTES: Final = 64 * 1024 * 1024
"""Free memory at the heap's top kept for reuse (``M_TRIM_THRESHOLD``): a few capped bodies."""

HEAP_ALLOCATION_MAX_BYTES: Final = 32 * 1024 * 1024
"""Buffers up to this size come from the heap, not a fresh mapping (``M_MMAP_THRESHOLD``).

Above the response cap, so every body-sized buffer is reusable; 32 MiB is
the largest value glibc accepts on 64-bit systems.
"""

# mallopt parameter numbers from glibc's <malloc.h>.
_M_TRIM_THRESHOLD: Final = -1
_M_MMAP_THRESHOLD: Final = -3


def keep_freed_memory() -> bool:
    """Set the allocator's thresholds (see the module docstring); whether they were set.

    Never raises: without glibc, or if glibc refuses a value, the defaults stay.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 -- present in glibc only
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = bool(
        mallopt(_M_MMAP_THRESHOLD, HEAP_ALLOCATION_MAX_BYTES)
        and mallopt(_M_TRIM_THRESHOLD, RETAINED_BYTES)
    )
    logger.debug("allocator thresholds %s", "set" if ok else "refused; defaults kept")
    return ok
