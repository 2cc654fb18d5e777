"""Per-track feature jobs, run in a small process pool with a progress bar.

Each job turns one track (an audio file or a synthetic clip) into its segments. Jobs are
independent and deterministic, so running them in a pool gives exactly the arrays an
in-process run gives (each worker, and the in-process path, uses one BLAS thread). If the
pool breaks, the remaining jobs run in this process after a warning. On Linux each worker
asks the kernel to kill it when its parent dies, so a ``kill -9`` of the caller leaves no
orphaned workers behind.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np

from artgenre.errors import check_int
from artgenre.runtime import log
from artgenre.runtime import progress as _progress

DEFAULT_WORKERS = 2
# "fork" where it is safe (Linux): workers start at once and, unlike "spawn", never re-run the
# caller's __main__ script. Workers are forked before the progress bar starts its thread and
# only run NumPy/SciPy code, never PyTorch.
START_METHOD = "fork" if sys.platform.startswith("linux") else "spawn"
# Below this many jobs per worker, starting interpreters costs more than it saves.
MIN_JOBS_PER_WORKER = 16


def _one_thread():
    """Context limiting BLAS/OpenMP pools to one thread (a no-op without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(1)


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this worker when its parent dies (Linux; a no-op elsewhere).

    Without it, workers of a parent killed with SIGKILL wait forever on the job queue, whose
    write end their siblings keep open.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        # The interpreter's own symbols include libc's; ctypes.util.find_library would run
        # ldconfig in a subprocess in every worker.
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            return
    except (OSError, AttributeError):  # no prctl symbol (e.g. a static or non-glibc runtime)
        return
    # The parent may have died between fork and prctl, before the signal was armed.
    if os.getppid() != parent_pid:
        os._exit(1)


def _init_worker(parent_pid: int) -> None:
    # PDEATHSIG follows the thread that forked; `run_jobs` closes the pool before returning,
    # so that thread always outlives the workers it started.
    _die_with_parent(parent_pid)
    # Two workers on two cores: BLAS threads inside each worker would only oversubscribe.
    _one_thread()


def _guarded(fn: Callable[[Any], np.ndarray], item: Any) -> tuple[bool, Any]:
    from artgenre.data.gtzan import SkipTrack

    try:
        return True, fn(item)
    except SkipTrack as exc:
        return False, str(exc)


def check_workers(workers) -> int:
    """Validate a worker count (a positive integer) and return it as int."""
    return check_int("workers", workers, 1)


def run_jobs(
    *,
    fn: Callable[[Any], np.ndarray],
    items: Sequence[Any],
    workers: int = DEFAULT_WORKERS,
    show_progress: bool = True,
    description: str = "features",
) -> list[tuple[bool, Any]]:
    """Apply ``fn`` to every item, in a process pool when the job is big enough.

    Parameters
    ----------
    fn : callable
        Module-level (picklable) function ``item -> segments``; it raises
        `artgenre.data.gtzan.SkipTrack` for an unusable input.
    items : sequence
        Picklable job descriptions.
    workers : int
        Processes to use; with ``workers == 1`` or fewer than ``MIN_JOBS_PER_WORKER * workers``
        items the jobs run in this process.
    show_progress : bool
        Show a rich progress bar (on stderr).
    description : str
        Label of the progress bar.

    Returns
    -------
    list of (ok, value)
        In input order: ``(True, segments)`` or ``(False, reason)``.

    Raises
    ------
    ParameterError
        ``workers`` is not a positive integer.
    """
    workers = check_workers(workers)
    results: list[tuple[bool, Any] | None] = [None] * len(items)
    if workers > 1 and len(items) >= MIN_JOBS_PER_WORKER * workers:
        _run_pool(fn, items, workers, results, show_progress, description)
    else:
        _run_here(fn, items, list(range(len(items))), results, show_progress, description)
    return results  # type: ignore[return-value]


def _bar(show_progress: bool):
    return _progress(disable=not show_progress)


def _run_here(fn, items, todo, results, show_progress, description) -> None:
    # One BLAS thread here too: the summation order then matches the pool workers', so both
    # paths give bit-identical features.
    with _one_thread(), _bar(show_progress) as bar:
        task = bar.add_task(description, total=len(todo))
        for i in todo:
            results[i] = _guarded(fn, items[i])
            bar.advance(task)


def _run_pool(fn, items, workers, results, show_progress, description) -> None:
    ctx = multiprocessing.get_context(START_METHOD)
    try:
        with cf.ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(os.getpid(),)
        ) as pool:
            # Submitting starts the workers, before the progress bar starts its thread.
            futures = {pool.submit(_guarded, fn, item): i for i, item in enumerate(items)}
            with _bar(show_progress) as bar:
                task = bar.add_task(description, total=len(items))
                for fut in cf.as_completed(futures):
                    results[futures[fut]] = fut.result()
                    bar.advance(task)
    except (BrokenProcessPool, OSError) as exc:
        # e.g. a "spawn" child re-running an unguarded script, or no permission to fork
        todo = [i for i, r in enumerate(results) if r is None]
        log.warning(
            "feature worker processes failed (%s: %s); computing the remaining %d job(s) in this process",
            type(exc).__name__, exc, len(todo),
        )
        _run_here(fn, items, todo, results, show_progress, description)


