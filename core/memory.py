"""Handing freed heap memory back to the system.

glibc's malloc keeps what a process frees for its own reuse and returns it to the system
only from the top of each heap. In the soak (tests/soak) a node's malloc heap grew by
megabytes a minute while the bytes in use stayed level, and `malloc_trim(0)` gave about
5 MiB of it back. It is not the whole of the node's growth under socket churn (see the
README's Soak figures): that is still open. A no-op where the C library is not glibc.
"""

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)


def _load_trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_trim = _load_trim()


def release_freed_memory() -> None:
    """Returns the heap's free pages to the system (glibc), a few milliseconds' work."""
    if _trim is not None:
        _trim(0)
