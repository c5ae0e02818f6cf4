"""A Workspace changes where the float64 copies live, never a number, an input or an earlier result."""

from __future__ import annotations

import dataclasses

import torch
from spectral_cases import random_cases

from lorascope.spectral import LowRankUpdate, analyze_matrix, base_spectrum
from lorascope.spectral.workspace import Workspace, upcast

CASES = random_cases()


def _fields(a) -> list:
    """Every number of a MatrixAnalysis, tensors as exact values."""
    delta = None if a.delta is None else dataclasses.astuple(a.delta)
    return [[(t.index, t.sigma, t.max_cos, t.base_index, t.intruder) for t in a.top], a.intruders,
            a.epsilon_counts, a.k_fraction_counts, a.similarity.tolist(), delta, a.solver]


def _snapshot(case) -> list[torch.Tensor]:
    tuned = [case.tuned.B, case.tuned.A] if isinstance(case.tuned, LowRankUpdate) else [case.tuned]
    return [t.clone() for t in [case.W0, *tuned]]


def test_one_workspace_across_shapes_and_paths_gives_identical_results():
    workspace = Workspace()
    kept = []
    for i, case in enumerate(CASES):  # shapes grow and shrink: the buffers are re-viewed and regrown
        base = base_spectrum(case.W0)
        options = {"k": case.k, "base": base}
        if i % 5 == 1:
            options["k_fractions"] = [0.05, 0.5]  # the dense full-SVD path
        if i % 5 == 2:
            options["solver"] = "exact"
        before = _snapshot(case)
        plain = analyze_matrix(case.W0, case.tuned, **options)
        reused = analyze_matrix(case.W0, case.tuned, workspace=workspace, **options)
        assert _fields(reused) == _fields(plain), case.name
        assert all(torch.equal(a, b) for a, b in zip(before, _snapshot(case), strict=True)), case.name
        kept.append((case.name, reused, _fields(reused)))
    # Nothing returned aliases a buffer: scribbling over all of them leaves every earlier result as it was.
    for buffer in workspace._buffers.values():
        buffer.fill_(float("nan"))
    for name, result, fields in kept:
        assert _fields(result) == fields, name


def test_buffers_are_reused_grown_and_never_returned_for_float64_inputs():
    workspace = Workspace()
    small, large = torch.randn(30, 40), torch.randn(50, 60)
    a = workspace.float64("W", small)
    pointer = a.data_ptr()
    assert a.dtype == torch.float64 and torch.equal(a, small.double())
    assert workspace.float64("W", small.T).data_ptr() == pointer  # same role, fits: same memory
    b = workspace.float64("W", large)
    assert torch.equal(b, large.double()) and workspace.nbytes() == 50 * 60 * 8
    assert workspace.float64("W", small).data_ptr() == b.data_ptr()  # the grown buffer serves smaller ones
    assert workspace.float64("U0", small).data_ptr() != b.data_ptr()  # roles never share
    already = torch.randn(5, 5, dtype=torch.float64)
    assert upcast(already, "W", workspace) is not None and upcast(already, "W", workspace).data_ptr() == \
        already.data_ptr()  # float64 already: used as it is, nothing copied
    assert upcast(small, "W", None).data_ptr() not in {b.data_ptr(), small.data_ptr()}


def test_reserve_sizes_a_buffer_that_later_copies_land_in():
    workspace = Workspace()
    workspace.reserve("W", 50 * 60)
    assert workspace.nbytes() == 50 * 60 * 8
    pointer = workspace._buffers["W"].data_ptr()
    small = torch.randn(30, 40)
    copied = workspace.float64("W", small)
    assert copied.data_ptr() == pointer and torch.equal(copied, small.double())  # no new allocation
    workspace.reserve("W", 10)  # smaller: the buffer stays
    assert workspace._buffers["W"].data_ptr() == pointer and workspace.nbytes() == 50 * 60 * 8
    workspace.reserve("W", 70 * 80)  # larger: regrown
    assert workspace.nbytes() == 70 * 80 * 8
