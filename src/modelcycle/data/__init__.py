"""Layer 1: reading tables, schemas, validation, profiles and fingerprints."""

from __future__ import annotations

from modelcycle.data._fingerprint import DatasetFingerprint, fingerprint

__all__ = ["DatasetFingerprint", "fingerprint"]
