"""Keeping the server's memory flat over many runs (glibc's allocator, as on Linux and Community Cloud).

glibc gives threads their own malloc arenas, and this server computes in many threads: the run's worker and
its view thread, every page's script thread. By default glibc raises two thresholds as the program frees big
blocks: the size from which a block gets its own mapping (returned to the system when freed) up to 32 MB, and
the free space an arena keeps at its top up to 64 MB. ``malloc_trim`` hands back free pages inside the arenas
but only the main arena's top, so the other arenas' tops keep what the runs freed; with both thresholds fixed
(below) the server's memory stays flat over many runs (docs/design/allocator.md).
No Streamlit and no torch here.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache

# mallopt's parameters (malloc.h) and the values set. Setting either turns off glibc's raising of both.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
TRIM_THRESHOLD = 8 << 20  # free space beyond this at an arena's top goes back to the system at once
MMAP_THRESHOLD = 32 << 20  # glibc's highest: smaller blocks (a batch's activations) reuse arena memory


@lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
    except (OSError, TypeError):
        return None
    # Both are glibc's own; without them (macOS, musl) there is nothing to tune this way.
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


@lru_cache(maxsize=1)
def fix_allocator_thresholds() -> bool:
    """Fix glibc's trim and mmap thresholds for the whole process (once; True if applied, False without glibc).

    The server calls this first (app.py), before any run allocates.
    """
    libc = _libc()
    return (
        libc is not None
        and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
        and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    )


def release_freed_memory() -> None:
    """Give the memory that Python and torch have freed back to the operating system (a no-op without glibc)."""
    if (libc := _libc()) is not None:
        libc.malloc_trim(0)
