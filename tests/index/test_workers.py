"""Parallel scans (--workers) and the device option change nothing in the result."""

from __future__ import annotations

import pytest
import torch

import lorascope
from index.builders import assert_json_close, scan_json, small_model
from lorascope.index import run_ordered, usable_cores
from lorascope.pipelines.index import build_index


@pytest.mark.parametrize("cache", [True, False])
def test_workers_2_equals_workers_1(tmp_path, cache):
    model = small_model(tmp_path, layers=2)
    for tuned in (model.adapter, model.full):
        seen: list[tuple[int, int, str]] = []
        one = lorascope.scan(model.base, tuned, cache=cache, cache_dir=tmp_path / "c1", workers=1)
        two = lorascope.scan(model.base, tuned, cache=cache, cache_dir=tmp_path / "c2", workers=2,
                             progress=lambda i, n, name, seen=seen: seen.append((i, n, name)))
        assert scan_json(two) == scan_json(one)
        assert [m.name for m in two.matrices] == [m.name for m in one.matrices]
        assert [i for i, _, _ in seen] == list(range(len(one.matrices) + 1))  # in order, then the final call
    assert torch.get_num_threads() == 1  # restored after the parallel scans


def test_workers_with_all_cores_agree_to_rounding(tmp_path):
    """With the machine's default threads, workers=1 runs torch on all cores and workers=2 on cores/2 each:
    BLAS sums then round differently, so floats agree to rounding and every verdict and index exactly."""
    torch.set_num_threads(usable_cores())
    model = small_model(tmp_path, layers=2)
    for tuned in (model.adapter, model.full):
        one = scan_json(lorascope.scan(model.base, tuned, cache=False, workers=1))
        two = scan_json(lorascope.scan(model.base, tuned, cache=False, workers=2))
        assert_json_close(one, two, rel=1e-6)
    assert torch.get_num_threads() == usable_cores()


def test_index_workers_2_builds_the_same_entries(tmp_path):
    model = small_model(tmp_path, layers=2)
    one = build_index(model.base, cache_dir=tmp_path / "c1", workers=1)
    two = build_index(model.base, cache_dir=tmp_path / "c2", workers=2)
    assert [(m.name, m.digest, m.status) for m in one.matrices] == [(m.name, m.digest, m.status) for m in two.matrices]


def test_run_ordered_keeps_order_bounds_work_in_flight_and_stops_at_the_first_error():
    import threading
    import time

    lock, live, most = threading.Lock(), [0], [0]

    def prepare(x):
        with lock:
            live[0] += 1
            most[0] = max(most[0], live[0])
        return x

    def solve(x):
        time.sleep(0.002 * (x % 3))
        with lock:
            live[0] -= 1
        return x * x

    assert run_ordered(list(range(30)), prepare, solve, workers=3) == [x * x for x in range(30)]
    assert most[0] <= 4  # workers + 1 items in flight at most

    def failing(x):
        if x == 5:
            raise ValueError("boom")
        return x

    with pytest.raises(ValueError, match="boom"):
        run_ordered(list(range(50)), lambda x: x, failing, workers=2)


def test_run_ordered_warms_each_solver_thread_before_its_first_solve():
    import threading

    warmed, order = set(), []
    lock = threading.Lock()

    def warm_up():
        with lock:
            warmed.add(threading.get_ident())
            order.append("warm")

    def solve(x):
        with lock:
            order.append(("solve", threading.get_ident() in warmed))
        return -x

    assert run_ordered(list(range(6)), lambda x: x, solve, warm_up=warm_up) == [-x for x in range(6)]
    assert order[0] == "warm" and order.count("warm") == 1 and all(o == ("solve", True) for o in order[1:])
    assert run_ordered([], lambda x: x, solve, warm_up=warm_up) == [] and order.count("warm") == 1


def test_device_option(tmp_path):
    model = small_model(tmp_path)
    cpu = lorascope.scan(model.base, model.adapter, device="cpu", cache=False)
    assert scan_json(cpu) == scan_json(lorascope.scan(model.base, model.adapter, cache=False))
    with pytest.raises(lorascope.InputError, match="device"):
        lorascope.scan(model.base, model.adapter, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(lorascope.InputError, match="CUDA is not available"):
            lorascope.scan(model.base, model.adapter, device="cuda")
    with pytest.raises(lorascope.InputError, match="workers"):
        lorascope.ScanOptions(workers=0)
