"""Statistics of the reports, on numpy and scipy.

Samples of one problem are not independent (a model that solves a problem tends to solve it in every sample), so
every interval here is over problems: the Wilson score interval with the effective sample size for accuracies
(`ClusteredProportion`), and the percentile bootstrap over problems for anything without a closed form
(differences between runs, pass@k, maj@k, ratios). One percentile rule (`percentile_interval`) and one percentile
helper (`percentile`) serve every report.
"""

from ._bootstrap import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    bootstrap_distribution,
    bootstrap_mean,
    bootstrap_method,
    bootstrap_ratio_change,
    paired_bootstrap,
    percentile_interval,
)
from ._intervals import CLUSTERED_WILSON, WILSON, Z_95, ClusteredProportion, wilson_interval
from ._tests import mcnemar_exact, percentile, spearman

__all__ = [
    "CLUSTERED_WILSON", "DEFAULT_RESAMPLES", "DEFAULT_SEED", "WILSON", "Z_95", "ClusteredProportion",
    "bootstrap_distribution", "bootstrap_mean", "bootstrap_method", "bootstrap_ratio_change", "mcnemar_exact",
    "paired_bootstrap", "percentile", "percentile_interval", "spearman", "wilson_interval",
]
