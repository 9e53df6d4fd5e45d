"""Handing the memory a run has freed back to the operating system (glibc, as on Linux and Community Cloud).

glibc keeps freed blocks in per-thread arenas for reuse, and this server computes in several threads (the
run's worker and its view thread, every page's script thread). After a run, its big blocks (the training
images, the activations of its batches) would stay resident in whichever arena they came from. Measured in
the lecture-hall test (20 runs at 8,000 training images), see README, *Lecture hall*. No torch here.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache


@lru_cache(maxsize=1)
def _malloc_trim() -> ctypes._CFuncPtr | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
    except (AttributeError, OSError, TypeError):  # not glibc (macOS, musl): nothing to hand back this way
        return None


def release_freed_memory() -> None:
    """Give the memory that Python and torch have freed back to the operating system (a no-op without glibc)."""
    if (trim := _malloc_trim()) is not None:
        trim(0)
