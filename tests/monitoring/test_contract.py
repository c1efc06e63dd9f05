"""Every drift detector passes the shipped contract suite (issue 7)."""

from __future__ import annotations

import pytest

from modelcycle.monitoring import (
    ChiSquareDetector,
    DriftDetector,
    JensenShannonDetector,
    KSDetector,
    MissingRateDetector,
    NewCategoryDetector,
    PSIDetector,
    WassersteinDetector,
)
from modelcycle.testing._drift import DriftDetectorContract

DETECTORS = [
    PSIDetector,
    KSDetector,
    WassersteinDetector,
    ChiSquareDetector,
    JensenShannonDetector,
    NewCategoryDetector,
    MissingRateDetector,
]


class TestDetectors(DriftDetectorContract):
    @pytest.fixture(params=DETECTORS, ids=lambda cls: cls.name)
    def detector(self, request: pytest.FixtureRequest) -> DriftDetector:
        detector: DriftDetector = request.param()
        return detector
