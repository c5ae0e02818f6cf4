"""Index tests: an isolated default cache per test, one torch thread (small matrices, shared machine)."""

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


@pytest.fixture
def decompositions(monkeypatch):
    """Counts base-spectrum decompositions (every path that computes one goes through this function)."""
    import lorascope.index.spectra as obtain_module

    calls: list[tuple[int, int]] = []
    real = obtain_module.base_spectrum

    def counting(W0, *args, **kwargs):
        calls.append(tuple(W0.shape))
        return real(W0, *args, **kwargs)

    monkeypatch.setattr(obtain_module, "base_spectrum", counting)
    return calls
