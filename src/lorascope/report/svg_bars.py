"""Draw a BarPanel as inline SVG: grouped bars, one <g data-key> per series, hoverable bars."""

from __future__ import annotations

from lorascope.report.axes import nice_ticks, tick_label
from lorascope.report.spec import BarPanel
from lorascope.report.svg_text import esc, num

LEFT, RIGHT, TOP = 60, 18, 34
MAX_LABEL = 22


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else "…" + label[-(MAX_LABEL - 1):]


def bar_width(panel: BarPanel) -> int:
    """A width that leaves each category room for its bars (460 to 940 px)."""
    per = max(8 * len(panel.series) + 14, 26)
    return int(min(max(460, LEFT + RIGHT + per * len(panel.categories)), 940))


def render_bars(panel: BarPanel, width: int | None = None, height: int = 300) -> str:
    """The panel as a standalone <svg>; long category names are slanted and shortened (full in tooltips)."""
    width = width or bar_width(panel)
    n = max(len(panel.categories), 1)
    slot = (width - LEFT - RIGHT) / n
    slant = max((len(_short(c)) for c in panel.categories), default=0) * 6.2 > slot
    bottom = 44 + (int(max(len(_short(c)) for c in panel.categories) * 4.4) if slant else 0)
    x0, x1, y0, y1 = LEFT, width - RIGHT, height - bottom, TOP
    top = max((v for s in panel.series for v in s.values), default=0.0)
    ticks = nice_ticks(0.0, max(top, 1.0), 5, integer=True)
    hi = ticks[-1]

    def sy(v: float) -> float:
        return y0 - (y0 - y1) * v / hi

    out = [f'<svg class="chart bars" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-label="{esc(panel.title)}">',
           f'<text class="ptitle" x="{LEFT}" y="18">{esc(panel.title)}</text>']
    for t in ticks:
        out.append(f'<line class="grid" x1="{x0}" x2="{x1}" y1="{num(sy(t))}" y2="{num(sy(t))}"/>'
                   f'<text class="tick" x="{x0 - 8}" y="{num(sy(t) + 4)}" text-anchor="end">{tick_label(t)}</text>')
    for i, c in enumerate(panel.categories):
        cx = x0 + (i + 0.5) * slot
        if slant:
            out.append(f'<text class="tick" transform="translate({num(cx + 3)} {num(y0 + 12)}) rotate(-35)" '
                       f'text-anchor="end">{esc(_short(c))}</text>')
        else:
            out.append(f'<text class="tick" x="{num(cx)}" y="{num(y0 + 17)}" text-anchor="middle">{esc(c)}</text>')
    for i, c in enumerate(panel.categories):
        tip = "\n".join([c] + [s.tips[i].split("\n", 1)[-1].join((f"{s.name}: ", "")) for s in panel.series])
        out.append(f'<rect class="hit" x="{num(x0 + i * slot)}" y="{y1}" width="{num(slot)}" height="{num(y0 - y1)}" '
                   f'data-tip="{esc(tip)}"/>')
    k = max(len(panel.series), 1)
    bw = min(slot * 0.8 / k, 28.0)
    for si, s in enumerate(panel.series):
        out.append(f'<g class="series" data-key="{esc(s.key)}">')
        for i, v in enumerate(s.values):
            bx = x0 + (i + 0.5) * slot - bw * k / 2 + si * bw
            h = y0 - sy(v)
            out.append(f'<rect class="bar" x="{num(bx + 0.5)}" y="{num(y0 - max(h, 0.0))}" width="{num(bw - 1)}" '
                       f'height="{num(max(h, 0.0))}" rx="1.5" fill="{s.color}" data-tip="{esc(s.tips[i])}"/>')
        out.append("</g>")
    out.append(f'<line class="axis" x1="{x0}" x2="{x1}" y1="{y0}" y2="{y0}"/>')
    out.append(f'<text class="alabel" x="{num((x0 + x1) / 2)}" y="{height - 6}" text-anchor="middle">'
               f'{esc(panel.x_label)}</text>')
    out.append(f'<text class="alabel" transform="translate(15 {num((y0 + y1) / 2)}) rotate(-90)" '
               f'text-anchor="middle">{esc(panel.y_label)}</text>')
    out.append("</svg>")
    return "".join(out)
