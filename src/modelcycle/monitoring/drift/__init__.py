"""Drift detectors, one module each, all following :class:`DriftDetector`'s contract.

==========================  ============  ==========================================
detector                    kinds         drifted when
==========================  ============  ==========================================
:class:`PSIDetector`        numeric       PSI on the reference histogram > 0.2
:class:`KSDetector`         numeric       two-sample Kolmogorov–Smirnov p < alpha
:class:`WassersteinDetector` numeric      W1 / reference std > 0.1
:class:`ChiSquareDetector`  categorical   chi-square homogeneity p < alpha
:class:`JensenShannonDetector` categorical  JS distance (base 2) > 0.1
:class:`NewCategoryDetector` categorical  share of unseen values > 0.05
:class:`MissingRateDetector` both         two-proportion z-test p < alpha
==========================  ============  ==========================================
"""

from __future__ import annotations

from modelcycle.monitoring.drift._base import DriftDetector, DriftResult
from modelcycle.monitoring.drift._chi_square import ChiSquareDetector
from modelcycle.monitoring.drift._jensen_shannon import JensenShannonDetector
from modelcycle.monitoring.drift._ks import KSDetector
from modelcycle.monitoring.drift._missing_rate import MissingRateDetector
from modelcycle.monitoring.drift._multiple_testing import adjust_pvalues
from modelcycle.monitoring.drift._new_category import NewCategoryDetector
from modelcycle.monitoring.drift._psi import PSIDetector
from modelcycle.monitoring.drift._report import ColumnDrift, DriftReport, drift_report
from modelcycle.monitoring.drift._wasserstein import WassersteinDetector
from modelcycle.monitoring.drift._window import ColumnWindow

__all__ = [
    "ChiSquareDetector",
    "ColumnDrift",
    "ColumnWindow",
    "DriftDetector",
    "DriftReport",
    "DriftResult",
    "JensenShannonDetector",
    "KSDetector",
    "MissingRateDetector",
    "NewCategoryDetector",
    "PSIDetector",
    "WassersteinDetector",
    "adjust_pvalues",
    "drift_report",
]
