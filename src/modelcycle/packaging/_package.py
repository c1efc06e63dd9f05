"""The model package: one folder with the model in a safe format, its signature and a manifest.

Layout::

    manifest.json      format, flavor, signature, task, every file's SHA-256 and size
    model.skops | model.txt | model.json | ...   written by the flavor

Loading verifies every file against the manifest first; a changed, missing or extra
file refuses the load. A ``trusted`` package (the caller's own classes, held by
skops; nothing is ever unpickled) loads only when the caller passes
``trusted=True`` (the registry passes the trust recorded on the version).
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from modelcycle._version import __version__
from modelcycle.core import IntegrityError, PermissionDenied, Task, ValidationError
from modelcycle.packaging._signature import Signature, conform, infer_signature
from modelcycle.packaging.flavors import Flavor, Predictor, detect_flavor, get_flavor

FORMAT = "modelcycle.model/1"
MANIFEST = "manifest.json"
_TRACKED_PACKAGES = (
    "numpy",
    "pandas",
    "scikit-learn",
    "lightgbm",
    "xgboost-cpu",
    "xgboost",
    "skops",
)


@dataclass(frozen=True)
class Manifest:
    """What a package holds and how to check it."""

    flavor: str
    signature: Signature
    files: dict[str, dict[str, Any]]
    trusted: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    package_versions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "format": FORMAT,
            "flavor": self.flavor,
            "signature": self.signature.to_dict(),
            "files": self.files,
            "trusted": self.trusted,
            "meta": self.meta,
            "package_versions": self.package_versions,
        }

    def to_bytes(self) -> bytes:
        """Canonical JSON (sorted keys), so equal manifests hash equally."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2).encode()

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = MANIFEST) -> Manifest:
        """Parse a manifest, naming ``source`` in any error."""
        try:
            raw = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValidationError(f"{source} is not valid JSON: {exc}") from exc
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
            raise ValidationError(f"{source} has format {found!r}; expected {FORMAT!r}")
        return cls(
            flavor=str(raw["flavor"]),
            signature=Signature.from_dict(raw["signature"]),
            files={str(k): dict(v) for k, v in raw["files"].items()},
            trusted=bool(raw.get("trusted", False)),
            meta=dict(raw.get("meta", {})),
            package_versions=dict(raw.get("package_versions", {})),
        )


def package_versions() -> dict[str, str]:
    """Versions of Python and of the libraries a model may depend on."""
    versions = {"python": platform.python_version(), "modelcycle": __version__}
    for name in _TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _hash(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return {"sha256": digest.hexdigest(), "size": path.stat().st_size}


def save_model(
    model: Any,
    folder: str | Path,
    *,
    signature: Signature | Any,
    flavor: str | None = None,
    trusted: bool = False,
) -> Manifest:
    """Write ``model`` as a package into an empty or new ``folder``.

    Parameters
    ----------
    signature:
        A :class:`Signature`, or sample inputs to infer it from (a DataFrame, rows, array).
    flavor:
        Force a flavor; by default the first safe flavor that accepts the model.
        ``"trusted"`` (formerly ``"pickle"``) requires ``trusted=True``.
    trusted:
        Record that the caller vouches for the model's code (required by ``trusted``).
    """
    chosen: Flavor = get_flavor(flavor) if flavor else detect_flavor(model)
    if chosen.needs_trust and not trusted:
        raise PermissionDenied(
            f"the {chosen.name!r} flavor runs the model's own code when loaded; pass "
            "trusted=True to accept it (recorded in the version and the audit trail)"
        )
    if not chosen.accepts(model):
        raise ValidationError(f"the {chosen.name!r} flavor cannot save a {type(model).__name__}")
    signature = _signature_for(model, signature)
    problems = chosen.signature_problems(model, signature.names)
    if problems:
        raise ValidationError("the signature does not match the model: " + "; ".join(problems))
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    if any(target.iterdir()):
        raise ValidationError(f"model folder {str(target)!r} is not empty")
    meta = chosen.save(model, target)
    files = {
        p.relative_to(target).as_posix(): _hash(p) for p in sorted(target.rglob("*")) if p.is_file()
    }
    manifest = Manifest(chosen.name, signature, files, trusted, meta, package_versions())
    (target / MANIFEST).write_bytes(manifest.to_bytes())
    return manifest


def _signature_for(model: Any, given: Signature | Any) -> Signature:
    if isinstance(given, Signature):
        return given
    if given is None:
        raise ValidationError(
            "a signature is required: pass signature=<a few rows of model input> "
            "(a DataFrame or list of dicts) so callers can be checked"
        )
    classes = getattr(model, "classes_", None)
    task: Task | None
    if classes is not None:
        task = Task.BINARY if len(classes) == 2 else Task.MULTICLASS
    else:
        task = Task.REGRESSION if hasattr(model, "predict") else None
    labels = np.asarray(classes).tolist() if classes is not None else None
    return infer_signature(given, task=task, classes=labels)


def read_manifest(folder: str | Path) -> Manifest:
    """Read and parse ``folder/manifest.json``."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ValidationError(f"{str(Path(folder))!r} is not a model package: it has no {MANIFEST}")
    return Manifest.from_bytes(path.read_bytes(), source=str(path))


def verify_package(folder: str | Path, manifest: Manifest | None = None) -> Manifest:
    """Check every file of the package against the manifest; raise :class:`IntegrityError`."""
    root = Path(folder)
    manifest = manifest or read_manifest(root)
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {MANIFEST}
    for extra in sorted(present - manifest.files.keys()):
        raise IntegrityError(
            f"model package file {extra!r} is not listed in the manifest; refusing to load"
        )
    for name, expected in sorted(manifest.files.items()):
        path = root / name
        if not path.is_file():
            raise IntegrityError(f"model package file {name!r} is missing")
        actual = _hash(path)
        if actual != {"sha256": expected["sha256"], "size": expected["size"]}:
            raise IntegrityError(
                f"model package file {name!r} has SHA-256 {actual['sha256']} ({actual['size']} "
                f"bytes), expected {expected['sha256']} ({expected['size']} bytes); it was "
                "modified and will not be loaded"
            )
    return manifest


class LoadedModel:
    """A verified model, checking its inputs against the signature.

    ``predict`` and ``predict_proba`` take a DataFrame, a list of dicts, or a dict of
    columns; a wrong column, type or category raises ``ValidationError`` naming it.
    """

    def __init__(self, manifest: Manifest, predictor: Predictor) -> None:
        self.manifest = manifest
        self.signature = manifest.signature
        self.flavor = manifest.flavor
        self._predictor = predictor

    def __repr__(self) -> str:
        return f"LoadedModel(flavor={self.flavor!r}, inputs={self.signature.names})"

    @property
    def native(self) -> Any:
        """The flavor's own model object (a ``ModelPipeline`` for the modelcycle flavor).

        The serving fast path calls a pipeline on rows directly, without the DataFrame
        that :meth:`predict` builds; inputs must then be checked by the caller.
        """
        return getattr(self._predictor, "pipeline", None) or getattr(self._predictor, "model", None)

    @property
    def predictor(self) -> Predictor:
        """The flavor's predictor, called with a DataFrame already checked against the signature.

        For a caller that checks inputs itself (the server's validator): it must pass
        every signature column, in signature order. :meth:`predict` checks first.
        """
        return self._predictor

    @property
    def classes(self) -> tuple[Any, ...] | None:
        """Class labels in probability column order (``None`` for regressors)."""
        return self._predictor.classes or self.signature.classes

    def predict(self, data: Any) -> np.ndarray:
        """Predicted labels or values, one per row."""
        return self._predictor.predict(conform(data, self.signature))

    def predict_proba(self, data: Any) -> np.ndarray:
        """Class probabilities, one row per input row and one column per class."""
        return self._predictor.predict_proba(conform(data, self.signature))


def load_model(folder: str | Path, *, trusted: bool = False) -> LoadedModel:
    """Verify and load a package written by :func:`save_model`."""
    root = Path(folder)
    manifest = verify_package(root)
    flavor = get_flavor(manifest.flavor)
    if flavor.needs_trust and not (trusted and manifest.trusted):
        raise PermissionDenied(
            f"model package {str(root)!r} uses the {manifest.flavor!r} flavor, which runs the "
            "model's code; it loads only from a version registered with trusted=True"
        )
    return LoadedModel(manifest, flavor.load(root, manifest.meta))
