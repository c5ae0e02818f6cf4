"""Run independent jobs as Ray tasks (`pip install lorascope[ray]`): on a local instance or a cluster.

Only executor.run_jobs imports this module, so `import lorascope` never imports Ray. Each job is one task
reserving `job.cpus` cores. Ray's own retries are off: this module resubmits a task whose worker died
(crash, kill, out of memory) or that raised an unexpected exception, up to `retries` times, and reports
every retry, so nothing is retried or dropped silently. A LorascopeError (bad input) raised by a job is
deterministic: it is re-raised at once, unchanged, and the other tasks are cancelled.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from lorascope.errors import InputError, JobError, LorascopeError

INSTALL_HINT = "pip install lorascope[ray]"
# Test-only fault injection: when this variable names a folder holding a file `crash-once`, the first task to
# remove that file kills its own worker process (os._exit), as a crash or an OOM kill would.
FAULT_ENV = "LORASCOPE_FAULT_DIR"
FAULT_FILE = "crash-once"


def import_ray() -> Any:
    """The ray module, or an InputError saying how to install it."""
    try:
        import ray
    except ImportError as e:
        raise InputError(f"--executor ray needs Ray, which is not installed: {INSTALL_HINT}") from e
    return ray


@contextlib.contextmanager
def ray_session(address: str | None = None) -> Iterator[Any]:
    """Connected Ray for the block: an existing connection is reused as is; else `ray.init(address)` (None
    starts a local instance, or joins $RAY_ADDRESS), shut down on exit."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    try:
        if address is None:
            ray.init(include_dashboard=False, logging_level=logging.WARNING)
        else:
            ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, ValueError, RuntimeError) as e:
        where = f"--address {address}" if address else "a local Ray instance"
        raise InputError(f"{where}: cannot start or join Ray ({e})") from e
    try:
        yield ray
    finally:
        ray.shutdown()


def _maybe_crash() -> None:
    """The test-only fault injection (see FAULT_ENV): kill this worker once, mid-task."""
    folder = os.environ.get(FAULT_ENV)
    if not folder:
        return
    try:
        os.remove(os.path.join(folder, FAULT_FILE))
    except FileNotFoundError:
        return
    os._exit(17)


def _run_job(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """The body of every task: `fn(*args)`."""
    _maybe_crash()
    return fn(*args)


def print_retry(key: str, attempt: int, error: str) -> None:
    """The default report of a retry: one line on stderr."""
    print(f"lorascope: job {key}: attempt {attempt} failed ({error}); retrying", file=sys.stderr, flush=True)


def _failure(ray: Any, error: Exception) -> tuple[str, LorascopeError | None]:
    """What went wrong, in one line, and the job's own LorascopeError when it raised one (not retried)."""
    if isinstance(error, ray.exceptions.RayTaskError):
        cause = getattr(error, "cause", None)
        if isinstance(cause, LorascopeError):
            return str(cause), cause
        if cause is not None:
            return f"{type(cause).__name__}: {cause}", None
    if isinstance(error, ray.exceptions.WorkerCrashedError):
        return "its worker process died (a crash, a kill or out of memory)", None
    first = str(error).strip().splitlines()
    return f"{type(error).__name__}: {first[0] if first else ''}", None


def run_on_ray(jobs: Sequence[Any], *, on_result: Callable[[str, Any], None] | None = None,
               address: str | None = None, retries: int = 2,
               on_retry: Callable[[str, int, str], None] | None = None) -> dict[str, Any]:
    """Run each job as a Ray task; returns {key: result} in job order, calling `on_result` as each finishes.

    A task that fails is resubmitted up to `retries` times (each reported through `on_retry(key, attempt,
    error)`, default a line on stderr); past that, JobError names the job and its last error.
    """
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InputError(f"retries must be an integer ≥ 0; got {retries!r}")
    report_retry = on_retry or print_retry
    results: dict[str, Any] = {}
    with ray_session(address) as ray:
        task = ray.remote(_run_job)

        def submit(job: Any) -> Any:
            options = {"num_cpus": job.cpus, "max_retries": 0, "name": str(job.key)[:128]}
            return task.options(**options).remote(job.fn, tuple(job.args))

        pending: dict[Any, tuple[Any, int]] = {submit(job): (job, 1) for job in jobs}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                ref = ready[0]
                job, attempt = pending.pop(ref)
                try:
                    value = ray.get(ref)
                except ray.exceptions.RayError as e:
                    error, own = _failure(ray, e)
                    if own is not None:
                        raise own from None
                    if attempt > retries:
                        raise JobError(f"job {job.key}: failed {attempt} times; last error: {error}") from e
                    report_retry(job.key, attempt, error)
                    pending[submit(job)] = (job, attempt + 1)
                    continue
                results[job.key] = value
                if on_result is not None:
                    on_result(job.key, value)
        finally:
            for ref in pending:
                with contextlib.suppress(Exception):
                    ray.cancel(ref)
    return {job.key: results[job.key] for job in jobs}
