"""lorascope: how fine-tuning changed a pretrained model, through the spectra of its weight matrices.

    >>> import lorascope
    >>> result = lorascope.scan("base_model_dir", "adapter_dir", k=10, epsilon=0.5)   # or models in memory
    >>> result.total_intruders, result.to_pandas()

Every CLI command has its call here, each with the typed options dataclass and result it takes and gives:
`scan` (`multi_scan` for `scan --out`), `scale`, `build_index` (`lorascope index`), `forget`, `train`,
`build_report` (`lorascope report`), `repair`, `run_experiment` (`lorascope run`), `reproduce`; and
`IntruderMonitor` for training loops, `analyze_matrix` for one matrix. The index and the report are
`build_index` and `build_report` because `lorascope.index` and `lorascope.report` are subpackages.
Names are imported on first use (PEP 562), so `import lorascope` loads neither torch nor transformers.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from lorascope._version import __version__
from lorascope.errors import InputError, LorascopeError, ResourceError

# public name -> the module it lives in, imported when the name is first read
_LAZY: dict[str, str] = {
    "scan": "lorascope.pipelines.scan",
    "ScanOptions": "lorascope.pipelines.scan",
    "ScanResult": "lorascope.results",
    "MatrixResult": "lorascope.results",
    "ROW_COLUMNS": "lorascope.results",
    "multi_scan": "lorascope.pipelines.multi_scan",
    "RunOptions": "lorascope.pipelines.multi_scan",
    "MultiScanReport": "lorascope.pipelines.multi_scan",
    "scale": "lorascope.pipelines.scale",
    "ScaleOptions": "lorascope.pipelines.scale",
    "ScaleResult": "lorascope.pipelines.scale",
    "build_index": "lorascope.pipelines.index",
    "IndexOptions": "lorascope.pipelines.index",
    "IndexReport": "lorascope.pipelines.index",
    "forget": "lorascope.pipelines.forget",
    "ForgetOptions": "lorascope.pipelines.forget",
    "ForgetResult": "lorascope.pipelines.forget",
    "train": "lorascope.pipelines.train",
    "TrainConfig": "lorascope.training.config",
    "TrainEvent": "lorascope.pipelines.train",
    "TrainResult": "lorascope.pipelines.train",
    "build_report": "lorascope.report.build",
    "Report": "lorascope.report.build",
    "repair": "lorascope.pipelines.repair",
    "RepairOptions": "lorascope.pipelines.repair",
    "RepairResult": "lorascope.pipelines.repair",
    "run_experiment": "lorascope.recipes.run",
    "ExperimentResult": "lorascope.recipes.run",
    "reproduce": "lorascope.recipes.reproduce",
    "ReproduceOptions": "lorascope.recipes.reproduce",
    "ReproduceResult": "lorascope.recipes.reproduce",
    "IntruderMonitor": "lorascope.monitor",
    "analyze_matrix": "lorascope.spectral.analyze",
    "MatrixAnalysis": "lorascope.spectral.analyze",
    "TopVector": "lorascope.spectral.analyze",
    "LowRankUpdate": "lorascope.spectral.update",
}

__all__ = [  # the names of _LAZY, spelled out so that tools see them
    "ROW_COLUMNS", "ExperimentResult", "ForgetOptions", "ForgetResult", "IndexOptions", "IndexReport", "InputError",
    "IntruderMonitor", "LorascopeError", "LowRankUpdate", "MatrixAnalysis", "MatrixResult", "MultiScanReport",
    "RepairOptions", "RepairResult", "Report", "ReproduceOptions", "ReproduceResult", "ResourceError",
    "RunOptions", "ScaleOptions", "ScaleResult", "ScanOptions", "ScanResult", "TopVector", "TrainConfig",
    "TrainEvent", "TrainResult", "__version__", "analyze_matrix", "build_index", "build_report", "forget",
    "multi_scan", "repair", "reproduce", "run_experiment", "scale", "scan", "train",
]

if TYPE_CHECKING:
    from lorascope.monitor import IntruderMonitor
    from lorascope.pipelines.forget import ForgetOptions, ForgetResult, forget
    from lorascope.pipelines.index import IndexOptions, IndexReport, build_index
    from lorascope.pipelines.multi_scan import MultiScanReport, RunOptions, multi_scan
    from lorascope.pipelines.repair import RepairOptions, RepairResult, repair
    from lorascope.pipelines.scale import ScaleOptions, ScaleResult, scale
    from lorascope.pipelines.scan import ScanOptions, scan
    from lorascope.pipelines.train import TrainEvent, TrainResult, train
    from lorascope.recipes.reproduce import ReproduceOptions, ReproduceResult, reproduce
    from lorascope.recipes.run import ExperimentResult, run_experiment
    from lorascope.report.build import Report, build_report
    from lorascope.results import ROW_COLUMNS, MatrixResult, ScanResult
    from lorascope.spectral.analyze import MatrixAnalysis, TopVector, analyze_matrix
    from lorascope.spectral.update import LowRankUpdate
    from lorascope.training.config import TrainConfig


def __getattr__(name: str):
    """PEP 562: import a public name's module on first use, then keep the name here."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lorascope' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
