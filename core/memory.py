"""Handing freed heap memory back to the system.

glibc's malloc keeps what a process frees for its own reuse and returns it to the system
only from the top of each heap. After a burst (a thousand sockets closing at once, a large
export) a node's heap holds megabytes it no longer uses; `malloc_trim(0)`, run on each hub
sweep, gives them back. (The soak's steady growth under socket churn was not this but
reference cycles each connection left behind until a full garbage collection: asgi.py and
core.wire.file_url break them.) A no-op where the C library is not glibc.
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
