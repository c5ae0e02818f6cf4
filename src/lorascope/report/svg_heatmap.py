"""Draw a Heatmap as inline SVG: one hoverable cell per |cos|, intruder columns outlined, a colour bar."""

from __future__ import annotations

import textwrap

from lorascope.report.colors import INTRUDER, heat
from lorascope.report.spec import Heatmap
from lorascope.report.svg_text import esc, num

LEFT, TOP, BOTTOM, BAR = 40, 50, 44, 52
TITLE_LINE = 14  # px between wrapped title lines


def _label_every(n: int) -> int:
    return 1 if n <= 12 else 5 if n <= 60 else 10


def render_heatmap(panel: Heatmap, size: int = 230) -> str:
    """The map as a standalone <svg>; rows are base vectors (rank 1 at top), columns tuned vectors."""
    n = len(panel.values)
    cell = max(min(size / n, 28.0), 2.0)
    side = cell * n
    width = LEFT + side + BAR + 12
    x0 = LEFT
    # a long title wraps to the panel's width (side-by-side panels would otherwise write over each other)
    lines = textwrap.wrap(panel.title, max(16, int((width - x0 - 15) / 6.3))) or [""]
    extra = TITLE_LINE * (len(lines) - 1)
    height, y0 = TOP + extra + side + BOTTOM, TOP + extra
    title = "".join(f'<tspan x="{x0 + 15}" dy="{0 if i == 0 else TITLE_LINE}">{esc(line)}</tspan>'
                    for i, line in enumerate(lines))
    out = [f'<svg class="chart heat" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {num(width)} {num(height)}" '
           f'width="{num(width)}" height="{num(height)}" role="img" aria-label="{esc(panel.title)}">',
           f'<circle cx="{x0 + 5}" cy="13" r="5" fill="{panel.color}"/>',
           f'<text class="ptitle" x="{x0 + 15}" y="18">{title}</text>']
    if panel.note:
        out.append(f'<text class="pnote" x="{x0}" y="{35 + extra}">{esc(panel.note)}</text>')
    for i, row in enumerate(panel.values):
        for j, v in enumerate(row):
            tip = f"{panel.title}\nbase vector {i + 1} · tuned vector {j + 1}\n|cos| = {v:.3f}"
            if j in panel.outlined:
                tip += "\ntuned vector is an intruder"
            out.append(f'<rect class="cell" x="{num(x0 + j * cell)}" y="{num(y0 + i * cell)}" width="{num(cell)}" '
                       f'height="{num(cell)}" fill="{heat(v)}" data-tip="{esc(tip)}"/>')
    for j in panel.outlined:
        out.append(f'<rect class="outline" x="{num(x0 + j * cell + 1)}" y="{num(y0 + 1)}" width="{num(cell - 2)}" '
                   f'height="{num(side - 2)}" stroke="{INTRUDER}"/>')
    every = _label_every(n)
    for t in range(n):
        if (t + 1) % every == 0 or t == 0:
            out.append(f'<text class="tick" x="{num(x0 - 6)}" y="{num(y0 + (t + 0.5) * cell + 4)}" '
                       f'text-anchor="end">{t + 1}</text>')
            out.append(f'<text class="tick" x="{num(x0 + (t + 0.5) * cell)}" y="{num(y0 + side + 15)}" '
                       f'text-anchor="middle">{t + 1}</text>')
    out.append(f'<text class="alabel" x="{num(x0 + side / 2)}" y="{num(height - 8)}" text-anchor="middle">'
               f'fine-tuned vector (rank)</text>')
    out.append(f'<text class="alabel" transform="translate(12 {num(y0 + side / 2)}) rotate(-90)" '
               f'text-anchor="middle">base vector (rank)</text>')
    bx, steps = x0 + side + 14, 24
    for s in range(steps):
        v = 1 - s / steps
        out.append(f'<rect x="{num(bx)}" y="{num(y0 + s * side / steps)}" width="10" '
                   f'height="{num(side / steps + 0.5)}" fill="{heat(v - 0.5 / steps)}"/>')
    for v in (0.0, 0.5, 1.0):
        out.append(f'<text class="tick" x="{num(bx + 14)}" y="{num(y0 + (1 - v) * side + 4)}">{v:g}</text>')
    out.append(f'<text class="tick" x="{num(bx)}" y="{num(y0 - 6)}">|cos|</text>')
    out.append("</svg>")
    return "".join(out)
