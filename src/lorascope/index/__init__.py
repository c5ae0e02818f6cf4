"""The base spectral index: W0's left singular basis U and values S, computed once per matrix and kept on disk.

Entries are keyed by the content of the analysed matrix (key.py), stored as float32 U and float64 S
(precision.py), written atomically and verified on every read (entry.py). `obtain` reads or builds one.
"""

from lorascope.index.device import resolve_device
from lorascope.index.entry import EntryRead, read_entry, write_entry
from lorascope.index.key import FORMAT, TensorKey, full_hash, sampled_ranges, tensor_key
from lorascope.index.layout import IndexLayout, clean_tmp, index_layout
from lorascope.index.parallel import run_ordered, torch_threads, usable_cores
from lorascope.index.precision import S_DTYPE, U_DTYPE, as_stored
from lorascope.index.spectra import Obtained, compute_spectrum, kept_spectrum, obtain

__all__ = [
    "FORMAT",
    "S_DTYPE",
    "U_DTYPE",
    "EntryRead",
    "IndexLayout",
    "Obtained",
    "TensorKey",
    "as_stored",
    "clean_tmp",
    "compute_spectrum",
    "full_hash",
    "index_layout",
    "kept_spectrum",
    "obtain",
    "read_entry",
    "resolve_device",
    "run_ordered",
    "sampled_ranges",
    "tensor_key",
    "torch_threads",
    "usable_cores",
    "write_entry",
]
