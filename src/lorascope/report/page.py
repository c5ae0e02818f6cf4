"""Assemble the self-contained HTML page: header with per-scan summaries, one card per figure, input list."""

from __future__ import annotations

from collections.abc import Sequence

from lorascope.report.assets import CSS, JS
from lorascope.report.claims import Claim
from lorascope.report.common import fmt, scan_colors
from lorascope.report.data import Inputs
from lorascope.report.spec import BarPanel, Figure, Heatmap, LegendItem, Panel, TablePanel, XYPanel
from lorascope.report.svg_bars import render_bars
from lorascope.report.svg_heatmap import render_heatmap
from lorascope.report.svg_text import esc
from lorascope.report.svg_xy import render_xy


def _wide(panel: Panel) -> bool:
    """An x–y panel over many matrices, drawn across the whole card."""
    return isinstance(panel, XYPanel) and panel.x_ticks is not None and sum(len(s.x) for s in panel.series) > 40


def render_panel(panel: Panel, alone: bool) -> str:
    """One panel's SVG; a figure's only x–y panel is drawn larger."""
    if isinstance(panel, Heatmap):
        return render_heatmap(panel)
    if isinstance(panel, BarPanel):
        return render_bars(panel)
    if isinstance(panel, TablePanel):
        return render_table(panel)
    assert isinstance(panel, XYPanel)
    if alone:
        return render_xy(panel, 1000, 360) if _wide(panel) else render_xy(panel, 720, 340)
    return render_xy(panel)


def render_table(panel: TablePanel) -> str:
    """A table panel as an HTML table (readable, selectable, printable)."""
    head = "".join(f"<th>{esc(c)}</th>" for c in panel.columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>" for row in panel.rows)
    note = f'<div class="note">{esc(panel.note)}</div>' if panel.note else ""
    return (f'<div class="tablepanel"><div class="ttitle">{esc(panel.title)}</div>{note}'
            f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>')


def _legend(items: Sequence[LegendItem]) -> str:
    if not items:
        return ""
    out = ['<div class="legend" role="group" aria-label="series (click to hide or show; shift-click to isolate)">']
    for it in items:
        if it.kind == "mark":
            out.append(f'<span class="li mark"><span class="ring" style="border-color:{it.color}"></span>'
                       f'{esc(it.name)}</span>')
        else:
            out.append(f'<button type="button" class="li" data-key="{esc(it.key)}" aria-pressed="true" '
                       f'title="click: hide/show · shift-click: show only this">'
                       f'<span class="sw" style="background:{it.color}"></span>{esc(it.name)}</button>')
    out.append("</div>")
    return "".join(out)


def _group_heading(group: str) -> str:
    short, _, full = group.partition("  ·  ")
    return f"<h3><b>{esc(short)}</b>" + (f" &nbsp;{esc(full)}" if full else "") + "</h3>"


def render_figure(fig: Figure) -> str:
    """One <figure> card: heading, stats, legend, panels grouped by their `group`, caption."""
    out = [f'<figure class="fig" id="fig-{esc(fig.id)}" data-figure="{esc(fig.id)}">',
           f'<div class="fighead"><h2>{esc(fig.title)}</h2>'
           + (f'<span class="paper">paper {esc(fig.paper)}</span>' if fig.paper else "") + "</div>"]
    if fig.stats:
        out.append('<div class="stats">' + "".join(
            f'<div class="stat"><div class="label">Spearman, {esc(s.label)}</div><span class="value">{esc(s.value)}'
            f'</span><span class="detail">{esc(s.detail)}</span></div>' for s in fig.stats) + "</div>")
    out.append(_legend(fig.legend))
    alone = len(fig.panels) == 1
    beside = alone and isinstance(fig.panels[0], XYPanel) and not _wide(fig.panels[0])
    out.append('<div class="beside">' if beside else "")  # the caption reads beside a single chart
    out.append('<div class="panels">')
    group, open_row = None, False
    for p in fig.panels:
        if p.group != group or not open_row:
            if open_row:
                out.append("</div></div>")
            out.append('<div class="group">' + (_group_heading(p.group) if p.group else "") + '<div class="row">')
            group, open_row = p.group, True
        out.append(render_panel(p, alone))
    if open_row:
        out.append("</div></div>")
    out.append("</div>")
    out.append(f"<figcaption>{esc(fig.caption)}</figcaption>" + ("</div>" if beside else "") + "</figure>")
    return "".join(out)


def _chips(inputs: Inputs) -> str:
    colors = scan_colors(inputs.scans)
    out = []
    for s in inputs.scans:
        acc = "" if s.accuracy is None else f" · accuracy {s.accuracy:.3f}"
        r = s.result
        out.append(f'<div class="chip"><div class="name"><span class="dot" style="background:{colors[s.label]}">'
                   f'</span>{esc(s.label)}</div><div class="big">{r.total_intruders}</div>'
                   f'<div class="small">intruders at k = {r.k}, ε = {fmt(r.epsilon)}</div>'
                   f'<div class="small">{len(r.matrices)} matrices · {esc(r.tuned_kind or "scan")}{esc(acc)}</div>'
                   "</div>")
    runs = len({r.run_id for r in inputs.train_rows})
    if runs:
        out.append(f'<div class="chip"><div class="name">training</div><div class="big">{runs}</div>'
                   f'<div class="small">run{"s" if runs != 1 else ""}, {len(inputs.train_rows)} evaluation points'
                   "</div></div>")
    return '<div class="chips">' + "".join(out) + "</div>" if out else ""


def render_claims(claims: Sequence[Claim], figure_ids: set[str]) -> str:
    """The claims table: each PAPER.md §5 claim covered, the paper's number, ours, and whether it holds."""
    if not claims:
        return ""
    verdict = {True: ("holds", "true"), False: ("does not hold", "false"), None: ("undecided", "null")}
    rows = []
    for c in claims:
        text, cls = verdict[c.holds]
        link = (f' <a href="#fig-{esc(c.figure)}">figure</a>' if c.figure and c.figure in figure_ids else "")
        note = f'<div class="small">{esc(c.note)}</div>' if c.note else ""
        rows.append(f'<tr data-claim="{esc(c.id)}"><td>{esc(c.id)}</td><td>{esc(c.claim)}{link}{note}</td>'
                    f"<td>{esc(c.paper)}</td><td>{esc(c.measured)}</td>"
                    f'<td class="holds-{cls}" title="{esc(c.rule)}">{text}</td></tr>')
    return ('<section class="claims" id="claims"><h2>The paper\'s claims, measured here</h2>'
            '<table class="claims"><thead><tr><th>§5</th><th>claim</th><th>paper</th><th>measured here</th>'
            f'<th>verdict</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
            '<div class="small">Hover a verdict for the rule that decides it. Numbers come from the run folders '
            "listed under Inputs.</div></section>")


def render_page(figures: Sequence[Figure], inputs: Inputs, title: str, version: str,
                claims: Sequence[Claim] = ()) -> str:
    """The whole HTML document, with every style and script inline and no external reference."""
    toc = "".join(f'<a href="#fig-{esc(f.id)}">{esc(f.title)}</a>' for f in figures)
    rows = "".join(f"<tr><td>{esc(kind)}</td><td><code>{esc(path)}</code></td></tr>" for path, kind in inputs.files)
    sources = len(inputs.files)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="lorascope {esc(version)}"><title>{esc(title)}</title>'
        f'<link rel="icon" href="data:,"><style>{CSS}</style></head><body>'
        f'<header class="top"><div class="wrap"><div class="brand">lorascope report</div><h1>{esc(title)}</h1>'
        f'<p class="sub">{len(figures)} figure{"s" if len(figures) != 1 else ""} from {sources} '
        f'input file{"s" if sources != 1 else ""}. Hover a mark to read its values; click a legend entry to hide '
        f"or show that series.</p>{_chips(inputs)}<nav class=\"toc\">{toc}</nav></div></header>"
        f'<main class="wrap">{render_claims(claims, {f.id for f in figures})}'
        f'{"".join(render_figure(f) for f in figures)}'
        f'<section class="inputs"><h2>Inputs</h2><table><tr><th>kind</th><th>file</th></tr>{rows}</table></section>'
        f'<footer>Made by lorascope {esc(version)}. Intruder dimensions follow Shuttleworth et al., '
        "“LoRA vs Full Fine-tuning: An Illusion of Equivalence” (arXiv 2410.21228).</footer></main>"
        f'<div id="tip" role="tooltip" hidden></div><script>{JS}</script></body></html>'
    )
