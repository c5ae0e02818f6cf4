"""all_finite (min/max based) agrees with the elementwise torch.isfinite mask on every real float dtype."""

from __future__ import annotations

import pytest
import torch

from lorascope.finite import all_finite

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_one_bad_element_anywhere_is_found(dtype, bad):
    g = torch.Generator().manual_seed(0)
    for size in [1, 7, 64, 4099, 100_003]:  # scalar tail, vector body and remainder of the reductions
        for where in {0, size // 2, size - 1, int(torch.randint(size, (1,), generator=g))}:
            t = torch.randn(size, generator=g).to(dtype)
            assert all_finite(t)
            t[where] = bad
            assert not all_finite(t), (dtype, bad, size, where)
            assert all_finite(t) == bool(torch.isfinite(t).all())


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_finite_values_pass(dtype):
    info = torch.finfo(dtype)
    t = torch.tensor([info.max, -info.max, info.tiny, -info.tiny, 0.0, -0.0], dtype=dtype)
    assert all_finite(t) and all_finite(t.reshape(2, 3).T)  # non-contiguous too


def test_nan_and_inf_together_and_other_dtypes():
    assert not all_finite(torch.tensor([float("inf"), float("nan"), float("-inf")]))
    assert all_finite(torch.empty(0)) and all_finite(torch.tensor([1, 2, 3]))  # nothing to check
    assert not all_finite(torch.tensor([1 + 1j, complex(float("nan"), 0)]))
    assert all_finite(torch.tensor([1 + 1j, 2 - 1j]))
