"""Process-wide allocator settings: memory of a large answer goes back to the system once it is freed."""

from __future__ import annotations

import ctypes
import sys
import threading

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
THRESHOLD = 2**20

_lock = threading.Lock()
_done: list[bool] = []


def return_large_blocks() -> bool:
    """Make glibc map every block of THRESHOLD bytes or more apart, and unmap it when freed.

    By default glibc raises its mmap threshold to the size of each large block freed (up to 32 MiB):
    from then on, blocks of that size (an answer's buffer, its text) come from the heap of the thread
    that asked, which keeps them when freed. Eight refresh threads each keeping a 25 MiB answer twice
    over measured 300 MiB where one answer at a time needs 150 MiB. Fixing the threshold stops that
    adjustment. Once per process; False where it does not apply (not glibc).
    """
    with _lock:
        if _done:
            return _done[0]
        applied = False
        if sys.platform.startswith("linux"):
            try:
                applied = bool(ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, THRESHOLD))
            except (OSError, AttributeError):  # no C library to load, or one without mallopt (musl)
                applied = False
        _done.append(applied)
        return applied
