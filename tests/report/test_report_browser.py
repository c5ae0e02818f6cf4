"""The report in a real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium): it renders
every figure, logs no console error, requests nothing over the network, and its tooltips and legend work.

Needs `apt-get install -y chromium chromium-driver` and `pip install selenium`; skipped only without Chromium.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lorascope.report import build_report
from lorascope.report.spec import BarPanel, Heatmap, TablePanel, XYPanel
from report.conftest import monitor_rows, scale_report, train_rows, write_jsonl, write_run_folder

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--window-size=1280,1000")

if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
    pytest.skip("Chromium is not installed (apt-get install -y chromium chromium-driver)", allow_module_level=True)
try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # Chromium is here, so a missing driver library is a broken setup, not a reason to skip
    pytest.fail("selenium is not installed (pip install selenium; it belongs in the dev extra)", pytrace=False)


@pytest.fixture(scope="module")
def report(scan_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    write_jsonl(root / "results.jsonl", train_rows())
    write_jsonl(root / "intruders.jsonl", monitor_rows())
    (root / "scale.json").write_text(json.dumps(scale_report("top-intruder", True)))
    write_run_folder(root / "sweep")
    return build_report([scan_dir, root], root / "report.html")


@pytest.fixture(scope="module")
def driver(report):
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        drv.get(report.html.resolve().as_uri())
        yield drv
    finally:
        drv.quit()


def _expected_marks(panel) -> tuple[str, int]:
    if isinstance(panel, Heatmap):
        return "rect.cell", len(panel.values) ** 2
    if isinstance(panel, BarPanel):
        return "g.series", len(panel.series)
    assert isinstance(panel, XYPanel)
    return "g.series", len(panel.series)


def test_every_figure_renders_with_its_series_and_caption(report, driver):
    assert {f.id for f in report.figures} == {"intruders-vs-epsilon", "intruders-vs-k-fraction", "similarity",
                                             "max-cos", "intruders-by-location", "effective-rank", "training",
                                             "monitor", "scale", "run-sweep-fig4_intruders_vs_epsilon",
                                             "run-sweep-fig9bc_similarity_maps", "run-sweep-table3_percent_changes"}
    for fig in report.figures:
        card = driver.find_element(By.CSS_SELECTOR, f'figure[data-figure="{fig.id}"]')
        tables = [p for p in fig.panels if isinstance(p, TablePanel)]
        drawn_tables = card.find_elements(By.CSS_SELECTOR, "table.data")
        assert len(drawn_tables) == len(tables), fig.id
        for html_table, panel in zip(drawn_tables, tables, strict=True):
            assert html_table.is_displayed()
            assert len(html_table.find_elements(By.CSS_SELECTOR, "tbody tr")) == len(panel.rows), fig.id
        charts = [p for p in fig.panels if not isinstance(p, TablePanel)]
        svgs = card.find_elements(By.CSS_SELECTOR, "svg.chart")
        assert len(svgs) == len(charts), fig.id
        for svg, panel in zip(svgs, charts, strict=True):
            box = driver.execute_script("var b = arguments[0].getBBox(); return [b.width, b.height];", svg)
            assert box[0] > 100 and box[1] > 100, (fig.id, box)
            selector, count = _expected_marks(panel)
            assert len(svg.find_elements(By.CSS_SELECTOR, selector)) == count, (fig.id, panel.title)
            if isinstance(panel, XYPanel):
                drawn = svg.find_elements(By.CSS_SELECTOR, "circle.pt")
                assert len(drawn) == sum(y is not None for s in panel.series for y in s.y), (fig.id, panel.title)
        caption = card.find_element(By.TAG_NAME, "figcaption")
        assert caption.is_displayed() and caption.text.strip() == fig.caption


def test_heatmap_outlines_in_the_page(report, driver):
    fig = next(f for f in report.figures if f.id == "similarity")
    svgs = driver.find_elements(By.CSS_SELECTOR, 'figure[data-figure="similarity"] svg.chart')
    for svg, panel in zip(svgs, fig.panels, strict=True):
        assert len(svg.find_elements(By.CSS_SELECTOR, "rect.outline")) == len(panel.outlined)


def test_no_console_errors_and_no_network(driver):
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
    page = driver.current_url
    requested = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requested.append(message["params"]["request"]["url"])
    assert requested and all(url == page or url.startswith("data:") for url in requested), requested


def test_tooltip_and_legend_toggle(report, driver):
    card = driver.find_element(By.CSS_SELECTOR, 'figure[data-figure="intruders-vs-epsilon"]')
    point = card.find_element(By.CSS_SELECTOR, "circle.pt")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", card)
    tip = driver.find_element(By.ID, "tip")

    def hovered(drv) -> bool:  # a late scroll event hides the tooltip: hover again until it shows
        ActionChains(drv).move_to_element(point).perform()
        return tip.is_displayed()

    WebDriverWait(driver, 5, poll_frequency=0.2).until(hovered)
    assert "intruders" in tip.text and "ε =" in tip.text
    assert "focusing" in card.get_attribute("class")  # the hovered series stands out, the others dim
    button = card.find_element(By.CSS_SELECTOR, "button.li[data-key]")
    key = button.get_attribute("data-key")
    group = card.find_element(By.CSS_SELECTOR, f'g.series[data-key="{key}"]')
    assert group.is_displayed()
    button.click()
    assert not group.is_displayed() and button.get_attribute("aria-pressed") == "false"
    button.click()
    assert group.is_displayed() and button.get_attribute("aria-pressed") == "true"
