"""The written page: self-contained, one card per figure with its caption, marks matching the figure data; the CLI."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser

import pytest

from lorascope.report import build_report
from lorascope.report.spec import Heatmap, XYPanel
from report.conftest import monitor_rows, train_rows, write_jsonl


class _Tags(HTMLParser):
    """Collects (tag, attrs) of every start tag, and the text of figcaptions."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.captions: list[str] = []
        self._in_caption = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_caption = tag == "figcaption"

    def handle_endtag(self, tag):
        if tag == "figcaption":
            self._in_caption = False

    def handle_data(self, data):
        if self._in_caption:
            self.captions.append(data)


@pytest.fixture(scope="module")
def page(scan_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("page")
    write_jsonl(root / "results.jsonl", train_rows())
    write_jsonl(root / "intruders.jsonl", monitor_rows())
    report = build_report([scan_dir, root], root / "report.html")
    html = report.html.read_text()
    parser = _Tags()
    parser.feed(html)
    return report, html, parser


def test_one_card_and_caption_per_figure(page):
    report, html, parser = page
    cards = [a["data-figure"] for t, a in parser.tags if t == "figure"]
    assert cards == [f.id for f in report.figures]
    assert len(parser.captions) == len(report.figures) and all(len(c) > 40 for c in parser.captions)
    mask = os.umask(0)
    os.umask(mask)
    assert report.html.stat().st_mode & 0o777 == 0o666 & ~mask  # not the temp file's private mode


def test_page_is_self_contained(page):
    _, html, parser = page
    for tag, attrs in parser.tags:
        assert "src" not in attrs, tag
        href = attrs.get("href", "")
        assert href.startswith("#") or href.startswith("data:") or href == "", (tag, href)
    assert "@import" not in html and "url(" not in html
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) == {"http://www.w3.org/2000/svg"}  # a namespace name


def test_series_groups_and_legend_buttons_match(page):
    report, html, _ = page
    for fig in report.figures:
        card = html[html.index(f'data-figure="{fig.id}"'):]
        card = card[:card.index("</figure>")]
        series = [s for p in fig.panels if isinstance(p, XYPanel) for s in p.series]
        series += [s for p in fig.panels if not isinstance(p, (XYPanel, Heatmap)) for s in p.series]
        assert card.count('<g class="series"') == len(series)
        buttons = set(re.findall(r'<button type="button" class="li" data-key="([^"]*)"', card))
        assert buttons == {s.key for s in series}


def test_heatmap_cells_and_outlines(page):
    report, html, _ = page
    fig = next(f for f in report.figures if f.id == "similarity")
    card = html[html.index('data-figure="similarity"'):]
    card = card[:card.index("</figure>")]
    svgs = re.findall(r'<svg class="chart heat".*?</svg>', card)
    assert len(svgs) == len(fig.panels)
    for svg, panel in zip(svgs, fig.panels, strict=True):
        n = len(panel.values)
        assert svg.count('class="cell"') == n * n
        assert svg.count('class="outline"') == len(panel.outlined)
        xs = sorted(float(x) for x in re.findall(r'class="outline" x="([\d.]+)"', svg))
        cell = float(re.search(r'class="cell" x="[\d.]+" y="[\d.]+" width="([\d.]+)"', svg).group(1))
        assert [round((x - 1 - 40) / cell) for x in xs] == sorted(panel.outlined)


def test_cli_report(scan_dir, tmp_path, capsys):
    from lorascope import cli
    from lorascope.commands.report import report

    if not any(c.name == "report" for c in cli.app.registered_commands):
        cli.app.command("report")(report)
    out = tmp_path / "r.html"
    assert cli.main(["report", str(scan_dir), "-o", str(out), "--matrix", r"layer\.0\..*value"]) == 0
    assert "wrote" in capsys.readouterr().out and out.is_file()
    assert "L0 · attention.self.value" in out.read_text()
    assert cli.main(["report", str(tmp_path / "missing.json"), "-o", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert "missing.json" in err and err.count("\n") == 1 and not (tmp_path / "x.html").exists()
    assert cli.main(["report", str(scan_dir), "-o", str(tmp_path / "y.html"), "--format", "pdf"]) == 2
    assert cli.main(["report", str(scan_dir), "-o", str(tmp_path / "y.html"), "--matrix", "nomatch"]) == 2
    assert "nomatch" in capsys.readouterr().err and not (tmp_path / "y.html").exists()
