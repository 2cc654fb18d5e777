"""The unit graph and its executors: order, retry once, failures reported, independents finish."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from artgenre.errors import ParameterError
from artgenre.executors import EXECUTORS, Unit, UnitsFailedError, check_graph, run_units


def write_value(*, out: str, name: str, value: int, inputs: tuple[str, ...] = ()) -> int:
    total = value + sum(json.loads(Path(out, f"{i}.json").read_text()) for i in inputs)
    Path(out, f"{name}.json").write_text(json.dumps(total))
    return total


def flaky(*, out: str, name: str) -> str:
    # Fails on the first attempt only: the executor's one retry must rescue it.
    marker = Path(out, f"{name}.attempted")
    if not marker.exists():
        marker.write_text("1")
        raise RuntimeError("transient failure")
    return "ok"


def broken(*, out: str) -> None:
    raise RuntimeError("this unit always fails")


def _graph(out):
    return [
        Unit("a", write_value, {"out": out, "name": "a", "value": 1}),
        Unit("b", write_value, {"out": out, "name": "b", "value": 10, "inputs": ("a",)}, deps=("a",)),
        Unit("bad", broken, {"out": out}, deps=("a",)),
        Unit("after-bad", write_value, {"out": out, "name": "x", "value": 0}, deps=("bad",)),
        Unit("flaky", flaky, {"out": out, "name": "flaky"}),
        Unit("c", write_value, {"out": out, "name": "c", "value": 100, "inputs": ("a", "b")}, deps=("b",)),
    ]


def _run(executor, tmp_path):
    return {o.name: o for o in run_units(_graph(str(tmp_path)), executor=executor, progress=False,
                                         raise_on_failure=False)}


def _check(outcomes, tmp_path):
    assert outcomes["a"].status == "done" and outcomes["a"].value == 1
    assert outcomes["c"].status == "done" and outcomes["c"].value == 112
    assert outcomes["flaky"].status == "done" and outcomes["flaky"].attempts == 2
    assert outcomes["bad"].status == "failed" and outcomes["bad"].attempts == 2
    assert "always fails" in outcomes["bad"].error
    assert outcomes["after-bad"].status == "skipped" and "'bad'" in outcomes["after-bad"].error
    assert not (tmp_path / "x.json").exists()


def test_serial_executor(tmp_path):
    _check(_run("serial", tmp_path), tmp_path)


@pytest.mark.slow
def test_ray_executor_same_outcomes(tmp_path):
    pytest.importorskip("ray")
    import ray
    import ray.cloudpickle

    me = sys.modules[__name__]
    ray.cloudpickle.register_pickle_by_value(me)  # Ray workers cannot import a test module
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        outcomes = {o.name: o for o in run_units(me._graph(str(tmp_path)), executor="ray", progress=False,
                                                 raise_on_failure=False)}
    finally:
        ray.shutdown()
    _check(outcomes, tmp_path)


def test_failures_raise_after_the_others_finish(tmp_path):
    with pytest.raises(UnitsFailedError, match="bad: failed") as info:
        run_units(_graph(str(tmp_path)), progress=False)
    assert (tmp_path / "c.json").exists()
    assert {o.name for o in info.value.outcomes if o.status == "done"} == {"a", "b", "c", "flaky"}


def test_graph_errors():
    f = write_value
    with pytest.raises(ParameterError, match="twice"):
        check_graph([Unit("a", f), Unit("a", f)])
    with pytest.raises(ParameterError, match="unknown unit"):
        check_graph([Unit("a", f, deps=("z",))])
    with pytest.raises(ParameterError, match="cycle"):
        check_graph([Unit("a", f, deps=("b",)), Unit("b", f, deps=("a",))])
    with pytest.raises(ParameterError, match="valid executors: serial, ray"):
        EXECUTORS["dask"]
