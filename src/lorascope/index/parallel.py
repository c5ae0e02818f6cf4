"""Matrices one after another, but overlapped: a reader thread loads the next while workers solve.

Reading (safetensors, index entries, keys) is I/O and numpy, solving is torch; both release the GIL, so
threads are enough. At most `workers + 1` matrices are in flight, so memory stays bounded by a few
matrices whatever the model size. Results come back in input order; the first error stops the rest.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import torch

from lorascope.errors import InputError

T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_workers(workers: object) -> int:
    """An integer ≥ 1."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"workers must be an integer ≥ 1; got {workers!r}")
    return workers


@contextlib.contextmanager
def pinned_threads(threads: int) -> Iterator[int]:
    """torch uses exactly `threads` intra-op threads inside the block (restored on exit); yields `threads`."""
    before = torch.get_num_threads()
    if threads != before:
        torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def torch_threads(workers: int) -> contextlib.AbstractContextManager[int]:
    """Limit torch's intra-op threads so workers × threads ≤ cores (restored on exit); yields the thread count."""
    before = torch.get_num_threads()
    return pinned_threads(max(1, min(before, usable_cores() // workers)) if workers > 1 else before)


def run_ordered(items: Sequence[T], prepare: Callable[[T], P], solve: Callable[[P], R], *, workers: int = 1,
                on_start: Callable[[int, T], None] | None = None,
                warm_up: Callable[[], None] | None = None) -> list[R]:
    """[solve(prepare(x)) for x in items], with prepare one item ahead on a reader thread and `workers` solvers.

    `on_start(i, item)` runs on the calling thread before it waits for item i. `warm_up()` runs once per
    worker on the solver threads, before their first solve and while the reader prepares the first items;
    it may only prepare (its failure is ignored: the solve then does the same work itself and reports it).
    """
    workers = check_workers(workers)
    window = workers + 1
    results: list[R] = []
    pending: dict[int, Future] = {}
    with ThreadPoolExecutor(1, thread_name_prefix="lorascope-read") as readers, \
            ThreadPoolExecutor(workers, thread_name_prefix="lorascope-solve") as solvers:

        def submit(j: int) -> None:
            ready = readers.submit(prepare, items[j])
            pending[j] = solvers.submit(_after, ready, solve)

        try:
            if warm_up is not None and items:
                for _ in range(min(workers, len(items))):
                    solvers.submit(warm_up)
            submitted = 0
            for i, item in enumerate(items):
                while submitted < len(items) and submitted < i + window:
                    submit(submitted)
                    submitted += 1
                if on_start is not None:
                    on_start(i, item)
                results.append(pending.pop(i).result())
        except BaseException:
            for future in pending.values():
                future.cancel()
            readers.shutdown(wait=False, cancel_futures=True)
            raise
    return results


def _after(ready: Future, solve: Callable[[P], R]) -> R:
    """solve(the prepared item), dropping the reader's reference so the item is freed once solved."""
    prepared = ready.result()
    del ready
    return solve(prepared)
