"""Contract test suites that every backend implementation must pass (needs pytest)."""

from __future__ import annotations

from modelcycle.testing._drift import DriftDetectorContract
from modelcycle.testing._learners import LearnerContract
from modelcycle.testing._tracking import TrackingContract

__all__ = ["DriftDetectorContract", "LearnerContract", "TrackingContract"]
