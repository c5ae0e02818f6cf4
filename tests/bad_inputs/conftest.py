"""Fixtures of the bad-input corpus: the originals, built once per session (cases damage copies)."""

from __future__ import annotations

import pytest

from bad_inputs.originals import Originals, build_originals


@pytest.fixture(scope="session")
def originals(tmp_path_factory) -> Originals:
    return build_originals(tmp_path_factory.mktemp("originals"))
