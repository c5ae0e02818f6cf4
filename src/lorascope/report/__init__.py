"""`lorascope report`: one self-contained HTML page of figures from scans, training runs, monitors and scale runs.

Data preparation (load_inputs, all_figures and the fig_* builders) is pure: loaded results in, figure specs
(spec.py) out. Rendering (svg_*, page.py) turns specs into inline SVG and HTML; png.py screenshots figures.
"""

from lorascope.report.build import Report, build_report
from lorascope.report.figures import FigureOptions, all_figures
from lorascope.report.load import load_inputs

__all__ = ["FigureOptions", "Report", "all_figures", "build_report", "load_inputs"]
