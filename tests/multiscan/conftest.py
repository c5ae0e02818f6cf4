"""Multi-input scan tests: an isolated default cache per test, one torch thread (small models, shared machine)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated_default_cache(tmp_path, monkeypatch):
    """Scans that use the default cache location write under this test's tmp_path, not the user's cache."""
    monkeypatch.setenv("LORASCOPE_CACHE", str(tmp_path / "default-cache"))


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
