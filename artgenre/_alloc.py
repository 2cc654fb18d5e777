"""Keep freed tensor buffers in the process instead of handing them back to the kernel.

glibc serves every allocation above ``M_MMAP_THRESHOLD`` (dynamic, at most 32 MiB) with its own
``mmap`` and returns it with ``munmap`` on free, and it trims the top of the heap whenever more
than ``M_TRIM_THRESHOLD`` is free. A training or attack step allocates and frees the same
multi-megabyte activation buffers every batch, so each step faults those pages in again: on two
cores that was a quarter of the CPU time spent in the kernel (issue 11). Turning off mmap'd
chunks (``M_MMAP_MAX = 0``) and raising the trim threshold keeps those pages mapped and reused.

`configure_allocator` runs once at ``import artgenre``, before any entry point (CLI, Python API,
test suite's ``conftest``) builds a model, so it applies everywhere. It only touches glibc on
Linux and is a no-op elsewhere. ``ARTGENRE_MALLOC=system`` leaves glibc's defaults alone (the
"without" arm of ``benchmarks/allocator.py``); glibc's own ``MALLOC_MMAP_MAX_`` /
``MALLOC_TRIM_THRESHOLD_`` variables, when set, win as well.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

#: glibc ``mallopt`` parameter numbers (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4

#: Largest value ``mallopt``'s ``int`` takes: trim only when 2 GiB at the top of the heap are free.
TRIM_THRESHOLD = 2**31 - 1

ENV_VAR = "ARTGENRE_MALLOC"
MODES = ("retain", "system")
_GLIBC_VARS = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_")

_state: dict = {"mode": None}


def configure_allocator() -> str:
    """Apply the allocator setting once per process and say what was done.

    Returns
    -------
    str
        ``"retain"`` (glibc told to keep freed memory), ``"system"`` (``ARTGENRE_MALLOC=system``,
        or an unknown value, which is logged), ``"glibc-env"`` (the user set glibc's own
        variables), ``"unsupported"`` (not Linux + glibc, or ``mallopt`` refused).
        The same value on every later call.
    """
    if _state["mode"] is None:
        _state["mode"] = _apply()
    return _state["mode"]


def allocator_mode() -> str | None:
    """What `configure_allocator` did in this process (None before it ran)."""
    return _state["mode"]


def _apply() -> str:
    wanted = os.environ.get(ENV_VAR, "retain").strip().lower() or "retain"
    if wanted not in MODES:
        # Importing the package must never fail over a tuning knob; say what is accepted.
        import logging

        logging.getLogger("artgenre").warning(
            "%s=%r is not valid; expected one of: %s; using the system allocator settings",
            ENV_VAR, wanted, ", ".join(MODES),
        )
        return "system"
    if wanted == "system":
        return "system"
    if any(v in os.environ for v in _GLIBC_VARS):
        return "glibc-env"
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return "unsupported"
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return "unsupported"
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success, 0 on error.
    if mallopt(M_MMAP_MAX, 0) != 1 or mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) != 1:
        return "unsupported"
    return "retain"
