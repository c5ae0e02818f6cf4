"""The heatmap panel: a long title wraps inside the panel instead of running into its neighbour."""

from __future__ import annotations

import re

from lorascope.report.spec import Heatmap
from lorascope.report.svg_heatmap import render_heatmap

VALUES = tuple(tuple(1.0 if i == j else 0.1 for j in range(10)) for i in range(10))


def _size(svg: str) -> tuple[float, float]:
    match = re.search(r'<svg[^>]* width="([\d.]+)" height="([\d.]+)"', svg)
    assert match
    return float(match.group(1)), float(match.group(2))


def test_short_title_is_one_line():
    svg = render_heatmap(Heatmap("full", VALUES, (), "#123456"))
    assert svg.count("<tspan") == 1


def test_long_title_wraps_within_the_panel_and_pushes_the_map_down():
    title = "LoRA r=8 α=16 lr=0.0085 seed=1, accuracy 0.7575 (matched), model.layers.26.mlp.down_proj.weight"
    short, long = render_heatmap(Heatmap("x", VALUES, (9,), "#123456")), render_heatmap(
        Heatmap(title, VALUES, (9,), "#123456"))
    lines = re.findall(r"<tspan[^>]*>([^<]*)</tspan>", long)
    assert len(lines) >= 3 and " ".join(lines) == title
    width, height = _size(long)
    assert width == _size(short)[0]
    assert all(len(line) * 6.3 <= width - 40 - 15 + 1e-9 for line in lines)
    assert height == _size(short)[1] + 14 * (len(lines) - 1)
    first_cell = re.search(r'<rect class="cell" x="[\d.]+" y="([\d.]+)"', long)
    assert first_cell and float(first_cell.group(1)) == 50 + 14 * (len(lines) - 1)
