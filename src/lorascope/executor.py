"""Where independent jobs run: one after another in this process (default), or as Ray tasks.

A job is a module-level function and picklable arguments, named by a unique key, so the same list of
jobs can run locally or on a cluster (`pip install lorascope[ray]`) with identical results. Callers
(multi-input scans, experiment recipes) build the jobs, pass `on_result` to record each finished one
(a ledger, a progress bar) and never care where the work ran.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lorascope.errors import InputError

Executor = Literal["local", "ray"]
EXECUTORS: tuple[str, ...] = ("local", "ray")


@dataclass(frozen=True)
class Job:
    """One independent unit of work: `fn(*args)`; `fn` must be importable by name (a module-level function)."""

    key: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = field(default_factory=tuple)
    cpus: int = 1  # cores the job keeps busy (torch threads × solver threads); Ray reserves that many


def check_executor(executor: str) -> Executor:
    """`executor` if it is one of EXECUTORS, else an InputError naming the option."""
    if executor not in EXECUTORS:
        raise InputError(f"--executor must be one of {', '.join(EXECUTORS)}; got {executor!r}")
    return executor  # type: ignore[return-value]


@contextlib.contextmanager
def executor_session(executor: Executor, address: str | None = None) -> Iterator[None]:
    """Keep one executor connection across several run_jobs calls (Ray: one instance for all, not one per call)."""
    check_executor(executor)
    if executor != "ray":
        yield
        return
    from lorascope.ray_executor import ray_session

    with ray_session(address):
        yield


def run_jobs(jobs: Sequence[Job], executor: Executor = "local", *,
             on_result: Callable[[str, Any], None] | None = None, address: str | None = None,
             retries: int = 2, on_retry: Callable[[str, int, str], None] | None = None) -> dict[str, Any]:
    """Run every job; returns {key: result} in job order. `on_result(key, result)` is called as each finishes.

    local: in order, in this process; the first exception propagates unchanged.
    ray: one Ray task per job (see ray_executor.py); a failed task is retried `retries` times, then the
    run fails with an error naming the job. `on_retry(key, failed_attempt, error)` reports each retry
    (default: one line on stderr).
    """
    check_executor(executor)
    keys = [job.key for job in jobs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"job keys must be unique; got {keys}")
    if executor == "ray":
        from lorascope.ray_executor import run_on_ray

        return run_on_ray(jobs, on_result=on_result, address=address, retries=retries, on_retry=on_retry)
    results: dict[str, Any] = {}
    for job in jobs:
        results[job.key] = job.fn(*job.args)
        if on_result is not None:
            on_result(job.key, results[job.key])
    return results
