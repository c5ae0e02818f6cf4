"""Pure functions on tensors: SVD helpers, the intruder test, similarity maps, update ranks. No I/O."""

from lorascope.spectral._validate import check_k_fits
from lorascope.spectral.analyze import DEFAULT_EPSILONS, MatrixAnalysis, TopVector, analyze_matrix
from lorascope.spectral.basis import BaseSpectrum, base_spectrum
from lorascope.spectral.intruders import (
    counts_over_epsilon,
    counts_over_k_fraction,
    intruder_mask,
    max_cos,
    similarity_map,
)
from lorascope.spectral.rank import (
    DeltaStats,
    delta_stats,
    effective_rank,
    energy_rank,
    stable_rank,
    update_singular_values,
)
from lorascope.spectral.reference import ReferenceResult, reference_intruders
from lorascope.spectral.topk import TopSingular, top_singular
from lorascope.spectral.update import LowRankUpdate, Tuned

__all__ = [
    "DEFAULT_EPSILONS",
    "BaseSpectrum",
    "DeltaStats",
    "LowRankUpdate",
    "MatrixAnalysis",
    "ReferenceResult",
    "TopSingular",
    "TopVector",
    "Tuned",
    "analyze_matrix",
    "base_spectrum",
    "check_k_fits",
    "counts_over_epsilon",
    "counts_over_k_fraction",
    "delta_stats",
    "effective_rank",
    "energy_rank",
    "intruder_mask",
    "max_cos",
    "reference_intruders",
    "similarity_map",
    "stable_rank",
    "top_singular",
    "update_singular_values",
]
