"""Suite-wide: every test's default cache is a fresh temp folder, never the user's cache directory."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """$LORASCOPE_CACHE → a session temp dir (tests that need their own set it again; explicit --cache-dir wins)."""
    old = os.environ.get("LORASCOPE_CACHE")
    os.environ["LORASCOPE_CACHE"] = str(tmp_path_factory.mktemp("lorascope-cache"))
    yield
    if old is None:
        os.environ.pop("LORASCOPE_CACHE", None)
    else:
        os.environ["LORASCOPE_CACHE"] = old


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """One local Ray instance (2 CPUs) for the whole test process, started by the first test that needs it and
    shut down once at the end. Ray must not be started again after a shutdown in one process: its native
    threads outlive `ray.shutdown()` and hold pointers into the torn-down session (ray-project/ray#31145), the
    suspected cause of the test command's rare segmentation fault at exit. `ray_session` reuses this
    connection. Workers inherit FAULT_ENV, the fault-injection folder this fixture yields."""
    ray = pytest.importorskip("ray")
    from lorascope.ray_executor import FAULT_ENV

    faults = tmp_path_factory.mktemp("ray-faults")
    before = os.environ.get(FAULT_ENV)
    os.environ[FAULT_ENV] = str(faults)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    try:
        yield faults
    finally:
        ray.shutdown()
        if before is None:
            os.environ.pop(FAULT_ENV, None)
        else:
            os.environ[FAULT_ENV] = before
