"""Analysis of recurrent matrices: memory, non-normality, robustness.

Works on plain matrices (the papers' column convention, `h_t = V h_{t-1}`)
and on trained cells, `keras.layers.RNN` / `SimpleRNN` layers and models,
whose row-convention matrix `W` (`h_t = h_{t-1} @ W`) is read as `V = W^T`.

Example:
    >>> import numpy as np
    >>> from tf_nnrnn import analysis
    >>> theta = analysis.chain_matrix(100, alpha=1.0)
    >>> round(analysis.total_fisher_memory(theta), 2)
    5.19
"""

from tf_nnrnn.analysis.matrix import as_matrix, recurrent_matrix
from tf_nnrnn.analysis.memory import (
    SUPPLEMENT_TOTAL_MEMORY,
    FisherMemory,
    fisher_memory,
    fisher_memory_curve,
    total_fisher_memory,
)
from tf_nnrnn.analysis.normality import (
    NonNormality,
    block_diagonal_mask,
    henrici_departure,
    non_normality,
    schur_form,
)
from tf_nnrnn.analysis.plots import (
    plot_fisher_memory,
    plot_pseudospectrum,
    plot_robustness,
    plot_schur,
    plot_transients,
    save_figure,
)
from tf_nnrnn.analysis.pseudospectra import (
    Pseudospectrum,
    pseudospectrum,
    smallest_singular_values,
)
from tf_nnrnn.analysis.robustness import (
    RobustnessCurve,
    accuracy,
    gradient_sign,
    perturbation_directions,
    robustness_curve,
    robustness_table,
)
from tf_nnrnn.analysis.spectral import (
    PowerIterationResult,
    SpectralRadiusBound,
    power_iteration,
    rayleigh_quotient,
    spectral_radius,
    spectral_radius_upper_bound,
)
from tf_nnrnn.analysis.transients import (
    chain_matrix,
    transient_norms,
    transient_summary,
)

__all__ = [
    "as_matrix",
    "recurrent_matrix",
    "SUPPLEMENT_TOTAL_MEMORY",
    "FisherMemory",
    "fisher_memory",
    "fisher_memory_curve",
    "total_fisher_memory",
    "NonNormality",
    "block_diagonal_mask",
    "henrici_departure",
    "non_normality",
    "schur_form",
    "Pseudospectrum",
    "pseudospectrum",
    "smallest_singular_values",
    "chain_matrix",
    "transient_norms",
    "transient_summary",
    "PowerIterationResult",
    "SpectralRadiusBound",
    "power_iteration",
    "rayleigh_quotient",
    "spectral_radius",
    "spectral_radius_upper_bound",
    "RobustnessCurve",
    "accuracy",
    "gradient_sign",
    "perturbation_directions",
    "robustness_curve",
    "robustness_table",
    "plot_fisher_memory",
    "plot_pseudospectrum",
    "plot_robustness",
    "plot_schur",
    "plot_transients",
    "save_figure",
]
