"""Draw an XYPanel as inline SVG: grid, ticks, labels, one <g data-key> per series with hoverable points."""

from __future__ import annotations

from lorascope.report.axes import Scale, log_ticks, nice_ticks, padded_range, tick_label
from lorascope.report.colors import INTRUDER
from lorascope.report.common import fmt
from lorascope.report.spec import Series, XYPanel
from lorascope.report.svg_text import esc, num

LEFT, RIGHT, TOP, BOTTOM = 60, 18, 46, 48


def _x_scale(panel: XYPanel, x0: float, x1: float) -> tuple[Scale, list[tuple[float, str]]]:
    xs = [x for s in panel.series for x in s.x]
    if panel.x_ticks is not None:
        lo, hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
        pad = max((hi - lo) * 0.02, 0.5)
        return Scale(lo - pad, hi + pad, x0, x1), list(panel.x_ticks)
    lo, hi = min(xs, default=0.0), max(xs, default=1.0)
    ints = all(float(x).is_integer() for x in xs)
    span = hi - lo
    pad = 0.5 if ints and span <= 30 else span * 0.03 if span else abs(lo) * 0.1 or 1.0
    ticks = [float(t) for t in range(int(lo), int(hi) + 1)] if ints and span <= 12 else nice_ticks(lo, hi, 6, ints)
    ticks = [t for t in ticks if lo - pad - 1e-9 <= t <= hi + pad + 1e-9]
    return Scale(lo - pad, hi + pad, x0, x1), [(t, tick_label(t)) for t in ticks]


def _y_scale(panel: XYPanel, y0: float, y1: float) -> tuple[Scale, list[tuple[float, str]]]:
    ys = [y for s in panel.series for y in s.y if y is not None]
    if panel.hline is not None:
        ys.append(panel.hline[0])
    if panel.y_log:
        lo, hi = padded_range(ys, log=True)
        return Scale(lo, hi, y0, y1, log=True), [(t, tick_label(t)) for t in log_ticks(lo, hi)]
    if panel.y_range is not None:
        lo, hi = panel.y_range
        lo, hi = min([lo, *ys]), max([hi, *ys])
    else:
        lo, hi = padded_range(ys, include_zero=panel.integer_y)
    ticks = nice_ticks(lo, hi, 5, integer=panel.integer_y)
    return Scale(ticks[0], ticks[-1], y0, y1), [(t, tick_label(t)) for t in ticks]


def _series(s: Series, sx: Scale, sy: Scale, many: bool) -> str:
    out = [f'<g class="series" data-key="{esc(s.key)}">']
    pts = [(sx(x), None if y is None else sy(y)) for x, y in zip(s.x, s.y, strict=True)]
    if s.mode == "line" and not s.hollow:
        d, pen = [], "M"
        for px, py in pts:
            if py is None:
                pen = "M"
                continue
            d.append(f"{pen}{num(px)},{num(py)}")
            pen = "L"
        if d:
            out.append(f'<path class="line" d="{"".join(d)}" stroke="{s.color}"/>')
    radius = 4.2 if s.mode == "points" else (2.2 if many else 3.2)
    for i, (px, py) in enumerate(pts):
        if py is None:
            continue
        tip = s.tips[i] if i < len(s.tips) else f"{s.name}\nx = {fmt(s.x[i])}, y = {fmt(s.y[i])}"
        cls = "pt scatter" if s.mode == "points" else "pt"
        paint = f'fill="none" stroke="{s.color}" stroke-width="1.5"' if s.hollow else f'fill="{s.color}"'
        out.append(f'<circle class="{cls}" cx="{num(px)}" cy="{num(py)}" r="{radius}" {paint} '
                   f'data-tip="{esc(tip)}"/>')
    for i in s.marked:
        if i < len(pts) and pts[i][1] is not None:
            out.append(f'<circle class="intr" cx="{num(pts[i][0])}" cy="{num(pts[i][1])}" r="{radius + 3.2}" '
                       f'stroke="{INTRUDER}"/>')
    out.append("</g>")
    return "".join(out)


def render_xy(panel: XYPanel, width: int = 460, height: int = 300) -> str:
    """The panel as a standalone <svg> element."""
    x0, x1, y0, y1 = LEFT, width - RIGHT, height - BOTTOM, TOP
    sx, xticks = _x_scale(panel, x0, x1)
    sy, yticks = _y_scale(panel, y0, y1)
    out = [f'<svg class="chart xy" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-label="{esc(panel.title)}">',
           f'<text class="ptitle" x="{LEFT}" y="18">{esc(panel.title)}</text>']
    if panel.note:
        out.append(f'<text class="pnote" x="{LEFT}" y="34">{esc(panel.note)}</text>')
    for v, label in yticks:
        py = sy(v)
        out.append(f'<line class="grid" x1="{x0}" x2="{x1}" y1="{num(py)}" y2="{num(py)}"/>'
                   f'<text class="tick" x="{x0 - 8}" y="{num(py + 4)}" text-anchor="end">{esc(label)}</text>')
    for v, label in xticks:
        px = sx(v)
        if x0 - 0.5 <= px <= x1 + 0.5:
            out.append(f'<line class="grid" x1="{num(px)}" x2="{num(px)}" y1="{y1}" y2="{y0}"/>'
                       f'<text class="tick" x="{num(px)}" y="{y0 + 18}" text-anchor="middle">{esc(label)}</text>')
    out.append(f'<line class="axis" x1="{x0}" x2="{x1}" y1="{y0}" y2="{y0}"/>'
               f'<line class="axis" x1="{x0}" x2="{x0}" y1="{y1}" y2="{y0}"/>')
    out.append(f'<text class="alabel" x="{num((x0 + x1) / 2)}" y="{height - 8}" text-anchor="middle">'
               f'{esc(panel.x_label)}</text>')
    out.append(f'<text class="alabel" transform="translate(15 {num((y0 + y1) / 2)}) rotate(-90)" '
               f'text-anchor="middle">{esc(panel.y_label)}</text>')
    if panel.hline is not None:
        value, label = panel.hline
        py = sy(value)
        out.append(f'<line class="ref" x1="{x0}" x2="{x1}" y1="{num(py)}" y2="{num(py)}"/>'
                   f'<text class="reflabel" x="{x1 - 4}" y="{num(py - 5)}" text-anchor="end">{esc(label)}</text>')
    many = sum(len(s.x) for s in panel.series) > 120
    out.extend(_series(s, sx, sy, many) for s in panel.series)
    out.append("</svg>")
    return "".join(out)

