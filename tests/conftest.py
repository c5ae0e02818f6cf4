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
