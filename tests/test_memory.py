"""The allocator setting the server makes first (uap_app.memory): freed memory goes back to the system.

Each case runs in a fresh interpreter, since the setting is for the whole process and lasts.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from uap_app.memory import _libc

pytestmark = pytest.mark.skipif(_libc() is None, reason="glibc's allocator only (Linux, as on Community Cloud)")

# A worker thread (its own arena, as a run's) mallocs, fills and frees 24 MB three times, as a run's training
# images would be; then the resident memory it still holds is printed, in MB.
PROGRAM = textwrap.dedent(
    """
    import ctypes, sys, threading
    from uap_app.memory import fix_allocator_thresholds

    def resident_mb():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024

    if sys.argv[1] == "fixed":
        assert fix_allocator_thresholds()
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]

    def work():
        for _ in range(3):
            block = libc.malloc(24 << 20)
            ctypes.memset(block, 1, 24 << 20)
            libc.free(block)

    before = resident_mb()
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    print(resident_mb() - before)
    """
)


def held_after_freeing(mode: str) -> float:
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", PROGRAM, mode], cwd=root, capture_output=True, text=True, check=True)
    return float(done.stdout)


def test_with_the_fixed_thresholds_freed_blocks_go_back_to_the_system():
    assert held_after_freeing("fixed") < 4


def test_without_them_glibc_keeps_a_freed_block_resident():
    # The reason for the setting: glibc's default raises its thresholds after the first free and then keeps
    # the next 24 MB blocks at the thread arena's top. If this stops holding, the setting may be unnecessary.
    assert held_after_freeing("default") > 20
