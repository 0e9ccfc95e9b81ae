"""Keep freed memory in the process, so per-frame buffers do not page-fault (glibc malloc).

Every frame allocates and frees buffers of 0.1-2 MB (point coordinates, images, messages). glibc
serves blocks over its mmap threshold with fresh ``mmap`` pages and, in the threads the node
works in, hands freed memory straight back to the kernel; the next frame then pays a page fault
for every 4 KB it touches. ``benchmarks/bench_projection.py --allocator kept|default`` measures
the difference (figures in docs/geometry.md, Speed).

:func:`keep_freed_memory` sets glibc's ``M_MMAP_THRESHOLD`` (blocks up to 32 MiB come from the heap)
and ``M_TRIM_THRESHOLD`` (up to 256 MiB of free heap is kept), the kind of setting the ROS 2
real-time guidance makes with ``mallopt`` for the same reason. The cost: the process keeps its
high-water mark of memory instead of returning it between frames. The node calls it at start-up.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

LOG = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's maximum on 64-bit
TRIM_THRESHOLD = 256 * 2**20


def keep_freed_memory(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Apply the settings above; False (and a debug log) where the C library has no ``mallopt``."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        LOG.debug("no mallopt in the C library %r: allocator settings left as they are", name)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1 and mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1
    if not ok:
        LOG.debug("mallopt refused the allocator settings")
    return ok
