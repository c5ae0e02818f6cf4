"""`--format png`: each figure of the report as a PNG, screenshotted from the page itself in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from lorascope.report.browser import Browser, find_browser

PAD = 8  # CSS px of page background kept around each figure card


def write_pngs(html: str, figure_ids: Sequence[str], folder: Path) -> tuple[Path, ...]:
    """Screenshot every figure card of `html` into folder/<figure id>.png (2× pixels); replaces the folder's PNGs."""
    executable = find_browser()
    parent = folder.parent if str(folder.parent) else Path(".")
    stage = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=parent))
    try:
        page = stage / "page.html"
        page.write_text(html, encoding="utf-8")
        with Browser.open(executable) as browser:
            browser.load(page)
            rects = browser.evaluate(
                "(" + json.dumps(list(figure_ids)) + ").map(function (id) {"
                " var r = document.getElementById('fig-' + id).getBoundingClientRect();"
                " return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height]; })")
            for fid, (x, y, w, h) in zip(figure_ids, rects, strict=True):
                clip = {"x": max(x - PAD, 0), "y": max(y - PAD, 0), "width": w + 2 * PAD, "height": h + 2 * PAD}
                (stage / f"{fid}.png").write_bytes(browser.screenshot(clip))
        page.unlink()
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(stage, folder)
        os.chmod(folder, 0o755)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return tuple(folder / f"{fid}.png" for fid in figure_ids)
