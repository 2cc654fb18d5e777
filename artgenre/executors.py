"""Run a graph of units of work: in this process (``serial``) or as Ray tasks (``ray``).

A unit is one stage of the experiment (prepare the data, train one model, one attack sweep,
one defense, the report) that writes its own result file atomically and resumes from it. The
pipeline builds the graph (`Unit` with the names of the units it depends on); an executor runs
every unit after its dependencies, retries a failed unit once, reports it with its error if it
fails again, skips what depends on it, and lets every independent unit finish. Because each
unit resumes from its result files, rerunning a killed driver recomputes nothing finished.

Each unit runs with a fixed number of CPU threads (its ``cpus``), in the serial executor as in
a Ray worker, so both executors compute the same floating-point results.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from artgenre.errors import ArtGenreError, ParameterError
from artgenre.registry import Registry
from artgenre.runtime import log, progress as progress_bar, torch_threads

RAY_INSTALL_HINT = "pip install 'artgenre[ray]'  (or: make install EXTRAS=ray)"


@dataclass(frozen=True)
class Unit:
    """One unit of work.

    Attributes
    ----------
    name : str
        Unique within a graph, e.g. ``"train cnn"`` or ``"attack cnn [seed 1]"``.
    fn : callable
        A module-level function (Ray ships it by reference), called as ``fn(**kwargs)``.
    kwargs : mapping
        Picklable keyword arguments (configs are frozen dataclasses).
    deps : tuple of str
        Names of the units that must finish first.
    cpus : int
        CPU threads the unit uses (and, under Ray, the CPUs it reserves).
    gpus : float
        GPUs it reserves under Ray (1 for ``--device cuda`` units).
    """

    name: str
    fn: Callable[..., Any]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    deps: tuple[str, ...] = ()
    cpus: int = 1
    gpus: float = 0.0


@dataclass
class UnitOutcome:
    """What happened to one unit: ``status`` is ``done``, ``failed`` or ``skipped``."""

    name: str
    status: str
    #: Time the unit ran (all attempts; on Ray inside the task, without time queued for CPUs).
    seconds: float = 0.0
    attempts: int = 0
    error: str | None = None
    value: Any = None


class UnitsFailedError(ArtGenreError):
    """Some units failed (after their retry); the others finished."""

    def __init__(self, outcomes: Sequence[UnitOutcome]):
        self.outcomes = list(outcomes)
        bad = [o for o in outcomes if o.status != "done"]
        lines = [f"{o.name}: {o.status}" + (f" ({o.error})" if o.error else "") for o in bad]
        super().__init__(f"{len(bad)} of {len(outcomes)} unit(s) did not finish:\n  " + "\n  ".join(lines))


def check_graph(units: Sequence[Unit]) -> list[Unit]:
    """Validate names and dependencies; return the units in a dependency order.

    Raises
    ------
    ParameterError
        Duplicate names, unknown dependencies or a cycle.
    """
    by_name: dict[str, Unit] = {}
    for u in units:
        if u.name in by_name:
            raise ParameterError(f"unit name {u.name!r} is used twice; unit names must be unique")
        by_name[u.name] = u
    for u in units:
        unknown = [d for d in u.deps if d not in by_name]
        if unknown:
            raise ParameterError(f"unit {u.name!r} depends on unknown unit(s) {unknown}")
    order: list[Unit] = []
    state: dict[str, int] = {}

    def visit(u: Unit, path: tuple[str, ...]) -> None:
        if state.get(u.name) == 2:
            return
        if state.get(u.name) == 1:
            raise ParameterError(f"units form a cycle: {' -> '.join(path + (u.name,))}")
        state[u.name] = 1
        for d in u.deps:
            visit(by_name[d], path + (u.name,))
        state[u.name] = 2
        order.append(u)

    for u in units:
        visit(u, ())
    return order


def call_unit(fn: Callable[..., Any], kwargs: Mapping[str, Any], threads: int) -> Any:
    """Run ``fn(**kwargs)`` with ``threads`` CPU threads (the body of every unit, any executor)."""
    with torch_threads(threads):
        return fn(**kwargs)


def _timed_call_unit(fn: Callable[..., Any], kwargs: Mapping[str, Any], threads: int) -> tuple[Any, float]:
    """`call_unit` and the seconds it ran, measured where it runs (a Ray task waits for CPUs
    between submission and start, which is not the unit's time)."""
    start = time.perf_counter()
    value = call_unit(fn, kwargs, threads)
    return value, time.perf_counter() - start


def _short_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


class _Progress:
    def __init__(self, total: int, show: bool):
        self.bar = progress_bar(disable=not show)
        self.total = total
        self.counts = {"done": 0, "running": 0, "failed": 0}
        self.task = None

    def __enter__(self):
        self.bar.__enter__()
        self.task = self.bar.add_task(self._text(), total=self.total)
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def _text(self) -> str:
        c = self.counts
        return f"units: {c['done']} done, {c['running']} running, {c['failed']} failed"

    def update(self, *, done=0, running=0, failed=0, finished=0):
        for key, delta in (("done", done), ("running", running), ("failed", failed)):
            self.counts[key] += delta
        self.bar.update(self.task, advance=finished, description=self._text())


def run_serial(units: Sequence[Unit], *, retries: int = 1, progress: bool = True,
               on_outcome: Callable[[UnitOutcome], None] | None = None, **_: Any) -> list[UnitOutcome]:
    """Run ``units`` one after another in this process (see `run_units`)."""
    order = check_graph(units)
    outcomes: dict[str, UnitOutcome] = {}
    with _Progress(len(order), progress) as bar:
        for u in order:
            failed_deps = [d for d in u.deps if outcomes[d].status != "done"]
            if failed_deps:
                outcomes[u.name] = UnitOutcome(u.name, "skipped", error=f"dependency {failed_deps[0]!r} did not finish")
                bar.update(finished=1)
                continue
            bar.update(running=1)
            outcome = UnitOutcome(u.name, "failed")
            start = time.perf_counter()
            for attempt in range(1, retries + 2):
                outcome.attempts = attempt
                try:
                    outcome.value = call_unit(u.fn, u.kwargs, u.cpus)
                    outcome.status, outcome.error = "done", None
                    break
                except ArtGenreError as exc:
                    # A bad parameter or bad data fails the same way again: no retry.
                    outcome.error = _short_error(exc)
                    break
                except Exception as exc:  # noqa: BLE001 - a unit's crash must not stop the others
                    outcome.error = _short_error(exc)
                    log.warning("unit %s failed (attempt %d): %s\n%s", u.name, attempt, outcome.error,
                                traceback.format_exc())
            outcome.seconds = time.perf_counter() - start
            outcomes[u.name] = outcome
            if on_outcome is not None:
                on_outcome(outcome)
            bar.update(running=-1, done=outcome.status == "done", failed=outcome.status != "done", finished=1)
    return [outcomes[u.name] for u in units]


def _ray():
    try:
        import ray
    except ImportError:
        raise ParameterError(f"--executor ray needs Ray, which is not installed; install it with: {RAY_INSTALL_HINT}") from None
    return ray


def run_ray(units: Sequence[Unit], *, retries: int = 1, progress: bool = True, address: str | None = None,
            on_outcome: Callable[[UnitOutcome], None] | None = None, **_: Any) -> list[UnitOutcome]:
    """Run ``units`` as Ray tasks on a running cluster (``address``) or a local Ray started here.

    Each unit becomes one task reserving ``cpus`` CPUs and ``gpus`` GPUs, submitted as soon as
    its dependencies are done; results travel through the results folder (shared storage on a
    cluster), not through Ray's object store.
    """
    ray = _ray()
    order = check_graph(units)
    started_here = not ray.is_initialized()
    if started_here:
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
        if address:
            kwargs["address"] = address
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        try:
            ray.init(**kwargs)
        except Exception as exc:  # noqa: BLE001 - Ray raises many types for an unreachable cluster
            raise ParameterError(f"cannot connect to the Ray cluster at address={address!r}: {_short_error(exc)}") from None
    remote = ray.remote(_timed_call_unit)
    outcomes = {u.name: UnitOutcome(u.name, "waiting") for u in order}
    pending: dict[Any, tuple[Unit, float]] = {}
    waiting = list(order)
    try:
        with _Progress(len(order), progress) as bar:
            def submit(u: Unit) -> None:
                ref = remote.options(num_cpus=u.cpus, num_gpus=u.gpus, max_retries=0,
                                     name=u.name).remote(u.fn, dict(u.kwargs), u.cpus)
                pending[ref] = (u, time.perf_counter())
                outcomes[u.name].status = "running"
                outcomes[u.name].attempts += 1

            while waiting or pending:
                for u in list(waiting):
                    states = [outcomes[d].status for d in u.deps]
                    bad = [d for d, s in zip(u.deps, states) if s in ("failed", "skipped")]
                    if bad:
                        waiting.remove(u)
                        outcomes[u.name].status = "skipped"
                        outcomes[u.name].error = f"dependency {bad[0]!r} did not finish"
                        bar.update(finished=1)
                    elif all(s == "done" for s in states):
                        waiting.remove(u)
                        submit(u)
                        bar.update(running=1)
                if not pending:
                    continue
                ready, _ = ray.wait(list(pending), num_returns=1)
                u, start = pending.pop(ready[0])
                outcome = outcomes[u.name]
                try:
                    outcome.value, ran = ray.get(ready[0])
                    outcome.seconds += ran
                    outcome.status, outcome.error = "done", None
                except Exception as exc:  # noqa: BLE001 - reported, then retried or given up
                    outcome.seconds += time.perf_counter() - start
                    cause = getattr(exc, "cause", None) or exc
                    outcome.error = _short_error(cause)
                    log.warning("unit %s failed (attempt %d): %s", u.name, outcome.attempts, outcome.error)
                    if outcome.attempts <= retries and not isinstance(cause, ArtGenreError):
                        submit(u)
                        continue
                    outcome.status = "failed"
                if on_outcome is not None:
                    on_outcome(outcome)
                bar.update(running=-1, done=outcome.status == "done", failed=outcome.status != "done", finished=1)
    finally:
        if started_here:
            ray.shutdown()
    return [outcomes[u.name] for u in units]


EXECUTORS: Registry = Registry("executor")
EXECUTORS.register("serial")(run_serial)
EXECUTORS.register("ray")(run_ray)


def run_units(units: Sequence[Unit], *, executor: str = "serial", address: str | None = None,
              retries: int = 1, progress: bool = True, raise_on_failure: bool = True,
              on_outcome: Callable[[UnitOutcome], None] | None = None) -> list[UnitOutcome]:
    """Run a graph of units with the named executor.

    Parameters
    ----------
    units : sequence of Unit
    executor : str
        `EXECUTORS` key: ``serial`` (this process) or ``ray``.
    address : str, optional
        Ray cluster address (``ray`` only; None starts a local Ray for the run).
    retries : int
        Extra attempts for a unit that crashed (an `ArtGenreError` — bad input — is not retried).
    raise_on_failure : bool
        Raise `UnitsFailedError` after all runnable units finished if any did not.
    on_outcome : callable, optional
        Called in this process with each finished or failed unit's `UnitOutcome`.

    Returns
    -------
    list of UnitOutcome
        In the order of ``units``.
    """
    fn = EXECUTORS[executor]
    if address is not None and executor != "ray":
        raise ParameterError(f"address={address!r} is only used by executor='ray' (got executor={executor!r})")
    outcomes = fn(units, retries=retries, progress=progress, address=address, on_outcome=on_outcome)
    if raise_on_failure and any(o.status != "done" for o in outcomes):
        raise UnitsFailedError(outcomes)
    return outcomes


__all__ = ["EXECUTORS", "RAY_INSTALL_HINT", "Unit", "UnitOutcome", "UnitsFailedError", "call_unit",
           "check_graph", "run_ray", "run_serial", "run_units"]
