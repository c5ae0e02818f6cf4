"""The report's memory guard: over budget it stops before reading its inputs, with one line naming the estimate
(8 MiB + 12 × the bytes of its JSON, JSONL and Parquet inputs), the memory and what helps; at the budget it builds."""

from __future__ import annotations

import tracemalloc

import pytest

from lorascope.errors import ResourceError
from lorascope.memory import ENV, format_bytes
from lorascope.report import build_report
from lorascope.report.budget import FIXED, PER_INPUT_BYTE, input_bytes


def test_input_bytes_counts_the_files_the_report_reads(scan_dir):
    assert input_bytes([scan_dir]) == sum(p.stat().st_size for p in scan_dir.glob("*.json")) > 0
    one = scan_dir / "full.json"
    assert input_bytes([one]) == one.stat().st_size


def test_report_over_budget_stops_before_any_write(scan_dir, tmp_path, monkeypatch):
    need = FIXED + PER_INPUT_BYTE * input_bytes([scan_dir])
    monkeypatch.setenv(ENV, str(need - 1))
    with pytest.raises(ResourceError) as caught:
        build_report([scan_dir], tmp_path / "report.html")
    text = str(caught.value)
    assert "\n" not in text and text.startswith("report: needs about ")
    for needle in (format_bytes(need), format_bytes(need - 1), ENV, "fewer inputs"):
        assert needle in text, needle
    assert not (tmp_path / "report.html").exists()
    monkeypatch.setenv(ENV, str(need))  # exactly enough: built
    assert build_report([scan_dir], tmp_path / "report.html").html.is_file()


def test_estimate_covers_the_measured_peak(scan_dir, tmp_path):
    tracemalloc.start()
    try:
        build_report([scan_dir], tmp_path / "report.html")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= FIXED + PER_INPUT_BYTE * input_bytes([scan_dir]), (peak, input_bytes([scan_dir]))
