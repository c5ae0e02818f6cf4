"""`--format png`: one PNG per figure, screenshotted in headless Chromium; without a browser, nothing is written."""

from __future__ import annotations

import shutil
import struct

import pytest

from lorascope.errors import InputError
from lorascope.report import build_report


def _size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


@pytest.mark.skipif(not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")),
                    reason="Chromium is not installed (apt-get install -y chromium)")
def test_png_per_figure(scan_dir, tmp_path):
    report = build_report([scan_dir / "lora-r4.json"], tmp_path / "r.html", png=True)
    folder = tmp_path / "r-figures"
    assert report.png == tuple(folder / f"{f.id}.png" for f in report.figures)
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in report.png)
    for path in report.png:
        width, height = _size(path.read_bytes())
        assert width > 600 and height > 300  # a 2× screenshot of a whole figure card
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_png_without_browser_writes_nothing(scan_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("LORASCOPE_CHROMIUM", str(tmp_path / "no-such-browser"))
    with pytest.raises(InputError, match="LORASCOPE_CHROMIUM"):
        build_report([scan_dir], tmp_path / "r.html", png=True)
    assert list(tmp_path.iterdir()) == []


def test_png_folder_with_other_files_is_refused(scan_dir, tmp_path):
    (tmp_path / "r-figures").mkdir()
    (tmp_path / "r-figures" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="holds more than PNG"):
        build_report([scan_dir], tmp_path / "r.html", png=True)
    assert not (tmp_path / "r.html").exists()
