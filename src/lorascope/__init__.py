"""lorascope: how fine-tuning changed a pretrained model, through the spectra of its weight matrices.

    >>> import lorascope
    >>> result = lorascope.scan("base_model_dir", "adapter_dir", k=10, epsilon=0.5)
    >>> result.total_intruders
"""

from lorascope._version import __version__
from lorascope.errors import InputError, LorascopeError, ResourceError
from lorascope.pipelines.scan import ScanOptions, scan
from lorascope.results import MatrixResult, ScanResult

__all__ = ["InputError", "LorascopeError", "MatrixResult", "ResourceError", "ScanOptions", "ScanResult", "scan",
           "__version__"]
