"""Spectral tests run torch on one thread: their matrices are small, and on a shared, oversubscribed
machine two OpenMP threads make small LAPACK calls (eigh/svd/qr of a few hundred rows) up to 100× slower."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
