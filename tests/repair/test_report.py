"""The report page of a repair.json: drawn from the file alone, bad fields named in one line."""

from __future__ import annotations

import json

import pytest

from lorascope.errors import InputError
from lorascope.report.build import build_report


def _point(lam, quality, forgetting, drop, inside):
    return {"lambda": lam, "quality": quality, "quality_drop_pct": drop, "forget_loss": 3.0 + forgetting,
            "forgetting": forgetting, "forgetting_change_pct": None, "within_budget": inside}


DOC = {
    "lorascope_version": "test", "repair": True, "adapter": "my-lora", "quality_measure": "accuracy",
    "higher_is_better": True, "rule": "least forgetting within 0.5 %", "message": "λ = 0.5: chosen",
    "quality_limit": 0.796, "chosen_lambda": 0.5,
    "unscaled": _point(1.0, 0.80, 0.10, 0.0, False),
    "points": [_point(0.0, 0.70, 0.01, 12.5, False), _point(0.5, 0.797, 0.04, 0.375, True)],
}


def test_page_marks_the_chosen_lambda_and_the_budget(tmp_path):
    path = tmp_path / "repair.json"
    path.write_text(json.dumps(DOC))
    report = build_report([path], tmp_path / "page.html")
    (figure,) = report.figures
    assert figure.id == "repair" and len(figure.panels) == 3
    quality, forgetting, trade = figure.panels
    (series,) = quality.series
    assert series.x == (0.0, 0.5, 1.0) and series.y == (0.70, 0.797, 0.80)
    assert series.marked == (1,) and quality.hline == (0.796, "budget limit")
    assert forgetting.series[0].y == (0.01, 0.04, 0.10)
    assert trade.series[0].x == (0.01, 0.04, 0.10) and trade.series[0].mode == "points"
    html = (tmp_path / "page.html").read_text()
    assert html.count('class="intr"') == 3 and "budget limit" in html


def test_no_choice_marks_nothing(tmp_path):
    path = tmp_path / "repair.json"
    path.write_text(json.dumps({**DOC, "chosen_lambda": None}))
    (figure,) = build_report([path], tmp_path / "page.html").figures
    assert all(s.marked == () for p in figure.panels for s in p.series)


def test_bad_field_is_one_line_naming_it(tmp_path):
    path = tmp_path / "repair.json"
    bad = json.loads(json.dumps(DOC))
    bad["points"][1]["forgetting"] = "lots"
    path.write_text(json.dumps(bad))
    with pytest.raises(InputError, match=r"repair.json points\[1\]: field 'forgetting'"):
        build_report([path], tmp_path / "page.html")
    assert not (tmp_path / "page.html").exists()
