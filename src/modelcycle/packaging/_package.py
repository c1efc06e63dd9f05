"""The model package: one folder with the model in a safe format, its signature and a manifest.

Layout::

    manifest.json      format, flavor, signature, task, every file's SHA-256 and size
    model.skops | model.txt | model.json | ...   written by the flavor

Loading treats a package folder as untrusted input, the same whether it comes from the
registry or from a plain folder: the manifest must be well formed (an
:class:`IntegrityError` names the field that is not), every file it lists must stay
inside the package (:mod:`._paths`), and every file is copied into a private folder
while its SHA-256 and size are checked, so what was checked is what gets loaded. A
changed, missing or extra file, a symbolic link or a special file refuses the load; the
model is then loaded from the private copy and its own input names are checked against
the manifest's signature. A ``trusted`` package (the caller's own classes, held by
skops; nothing is ever unpickled) loads only when the caller passes ``trusted=True``
(the registry passes the trust recorded on the version).
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from modelcycle._version import __version__
from modelcycle.core import (
    IntegrityError,
    ModelcycleError,
    NotFound,
    PermissionDenied,
    Task,
    ValidationError,
)
from modelcycle.packaging._onnx import LAYOUTS, OnnxRunner, check_onnx_bytes
from modelcycle.packaging._paths import check_package_path, open_inside, package_files
from modelcycle.packaging._signature import Signature, as_frame, conform, infer_signature
from modelcycle.packaging.flavors import (
    FLAVOR_NAMES,
    Flavor,
    Predictor,
    detect_flavor,
    get_flavor,
)

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
    "onnx",
    "onnxruntime",
    "skl2onnx",
    "onnxmltools",
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
    #: Which runtime serves the model and why (:mod:`._compile`): ``engine`` is
    #: ``"onnxruntime"`` (with ``file``, ``layout``, ``output`` and the measured
    #: ``agreement``) or ``"native"`` (with the ``reason``).
    runtime: dict[str, Any] = field(default_factory=dict)

    @property
    def engine(self) -> str:
        """``"onnxruntime"`` or ``"native"`` (packages older than compilation: native)."""
        return str(self.runtime.get("engine", "native"))

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
            "runtime": self.runtime,
        }

    def to_bytes(self) -> bytes:
        """Canonical JSON (sorted keys), so equal manifests hash equally."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2).encode()

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = MANIFEST) -> Manifest:
        """Parse and check a manifest, naming ``source`` and the field in any error.

        Raises
        ------
        IntegrityError
            The bytes are not a JSON object of this format, a required field is
            missing, or a field has the wrong type or value (a file name that leaves
            the package, a digest that is not 64 hexadecimal digits, ...).
        """
        try:
            raw = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise IntegrityError(f"{source} is not valid JSON: {exc}") from None
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
            raise IntegrityError(f"{source} has format {found!r}; expected {FORMAT!r}")
        flavor = _field(raw, "flavor", str, source)
        if flavor not in FLAVOR_NAMES:
            raise IntegrityError(
                f"{source} field 'flavor' is {flavor!r}; expected one of {list(FLAVOR_NAMES)}"
            )
        return cls(
            flavor=flavor,
            signature=_signature(raw, source),
            files=_files(raw, source),
            trusted=_field(raw, "trusted", bool, source, default=False),
            meta=_field(raw, "meta", dict, source, default={}),
            package_versions=_versions(raw, source),
            runtime=_runtime(raw, source),
        )


_SHA256 = re.compile(r"[0-9a-f]{64}")
_MAX_MANIFEST_BYTES = 64 << 20


def _field(raw: dict[str, Any], name: str, kind: type, source: str, default: Any = ...) -> Any:
    """``raw[name]``, which must be a ``kind`` (or absent when a default is given)."""
    if name not in raw and default is not ...:
        return default
    if name not in raw:
        raise IntegrityError(f"{source} has no field {name!r}; it is required")
    found = raw[name]
    if not isinstance(found, kind) or (kind is not bool and isinstance(found, bool)):
        raise IntegrityError(
            f"{source} field {name!r} is {_brief(found)}; expected {_KIND_WORDS[kind]}"
        )
    return found


_KIND_WORDS = {str: "a string", bool: "true or false", dict: "an object", int: "an integer"}


def _brief(value: Any) -> str:
    text = repr(value)
    return f"a {type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def _signature(raw: dict[str, Any], source: str) -> Signature:
    data = _field(raw, "signature", dict, source)
    inputs = data.get("inputs")
    if not isinstance(inputs, list) or not all(
        isinstance(i, dict) and isinstance(i.get("name"), str) for i in inputs
    ):
        raise IntegrityError(
            f"{source} field 'signature.inputs' is {_brief(inputs)}; expected a list of "
            "objects with a string 'name'"
        )
    try:
        return Signature.from_dict(data)
    except (ModelcycleError, KeyError, TypeError, ValueError) as exc:
        raise IntegrityError(f"{source} field 'signature' is malformed: {exc}") from None


def _files(raw: dict[str, Any], source: str) -> dict[str, dict[str, Any]]:
    files = _field(raw, "files", dict, source)
    if not files:
        raise IntegrityError(f"{source} field 'files' is empty; a package holds its model files")
    seen: dict[str, str] = {}
    for name, entry in files.items():
        check_package_path(name, f"{source} field 'files'")
        if name == MANIFEST:
            raise IntegrityError(f"{source} field 'files' lists the manifest itself")
        if name.casefold() in seen:
            raise IntegrityError(
                f"{source} field 'files' lists {name!r} besides {seen[name.casefold()]!r}"
            )
        seen[name.casefold()] = name
        where = f"{source} field 'files.{name}'"
        if not isinstance(entry, dict) or set(entry) != {"sha256", "size"}:
            raise IntegrityError(f"{where} is {_brief(entry)}; expected {{'sha256', 'size'}}")
        digest, size = entry["sha256"], entry["size"]
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise IntegrityError(f"{where}.sha256 is {_brief(digest)}; expected 64 hex digits")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise IntegrityError(f"{where}.size is {_brief(size)}; expected a size in bytes")
    return {name: dict(entry) for name, entry in files.items()}


def _versions(raw: dict[str, Any], source: str) -> dict[str, str]:
    versions = _field(raw, "package_versions", dict, source, default={})
    if not all(isinstance(v, str) for v in versions.values()):
        raise IntegrityError(
            f"{source} field 'package_versions' is {_brief(versions)}; expected names to versions"
        )
    return dict(versions)


def _runtime(raw: dict[str, Any], source: str) -> dict[str, Any]:
    runtime: dict[str, Any] = _field(raw, "runtime", dict, source, default={})
    engine = runtime.get("engine", "native")
    if engine not in ("native", "onnxruntime"):
        raise IntegrityError(
            f"{source} field 'runtime.engine' is {_brief(engine)}; expected 'native' or "
            "'onnxruntime'"
        )
    if engine == "native":
        return runtime
    files = raw.get("files")
    if not isinstance(files, dict) or runtime.get("file") not in files:
        raise IntegrityError(
            f"{source} field 'runtime.file' is {_brief(runtime.get('file'))}; expected a file "
            "the manifest lists"
        )
    if runtime.get("layout") not in LAYOUTS:
        raise IntegrityError(
            f"{source} field 'runtime.layout' is {_brief(runtime.get('layout'))}; expected one "
            f"of {list(LAYOUTS)}"
        )
    output = runtime.get("output")
    if not isinstance(output, int) or isinstance(output, bool) or not 0 <= output < 64:
        raise IntegrityError(
            f"{source} field 'runtime.output' is {_brief(output)}; expected an output index"
        )
    return runtime


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
    compile_onnx: bool = True,
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
    compile_onnx:
        Try to compile a scikit-learn, LightGBM or XGBoost model to ONNX, served by
        onnxruntime when it agrees with the original (:mod:`._compile`); a model that
        cannot compile is saved and served natively, the manifest's ``runtime`` says why.
    """
    chosen: Flavor = get_flavor(flavor) if flavor else detect_flavor(model)
    if chosen.needs_trust and not trusted:
        raise PermissionDenied(
            f"the {chosen.name!r} flavor runs the model's own code when loaded; pass "
            "trusted=True to accept it (recorded in the version and the audit trail)"
        )
    if not chosen.accepts(model):
        raise ValidationError(f"the {chosen.name!r} flavor cannot save a {type(model).__name__}")
    sample = None if isinstance(signature, Signature) or signature is None else signature
    signature = _signature_for(model, signature)
    problems = chosen.signature_problems(model, signature.names)
    if problems:
        raise ValidationError("the signature does not match the model: " + "; ".join(problems))
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    if any(target.iterdir()):
        raise ValidationError(f"model folder {str(target)!r} is not empty")
    meta = chosen.complete(chosen.save(model, target), target, signature)
    runtime = _runtime_for(chosen, model, target, meta, signature, sample, compile_onnx)
    files = {
        p.relative_to(target).as_posix(): _hash(p) for p in sorted(target.rglob("*")) if p.is_file()
    }
    manifest = Manifest(chosen.name, signature, files, trusted, meta, package_versions(), runtime)
    (target / MANIFEST).write_bytes(manifest.to_bytes())
    return manifest


def _runtime_for(
    flavor: Flavor,
    model: Any,
    folder: Path,
    meta: dict[str, Any],
    signature: Signature,
    sample: Any,
    compile_onnx: bool,
) -> dict[str, Any]:
    """The manifest's runtime record: an ONNX model runs as is, others compile if they can."""
    from modelcycle.packaging import _compile  # converters are heavy: load on use

    if flavor.name == "onnx":
        return {
            "engine": "onnxruntime",
            "file": meta["file"],
            "layout": meta["layout"],
            "output": meta["output"],
            "reason": "an ONNX model runs on onnxruntime",
        }
    if not compile_onnx:
        return _compile.native("compilation to ONNX was turned off (compile_onnx=False)")
    frame = None
    if sample is not None:
        frame = as_frame(sample)
        frame = frame[[n for n in signature.names if n in frame.columns]]
        if list(frame.columns) != signature.names:
            frame = None
    return _compile.compile_package(flavor, model, folder, meta, signature, frame)


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
    """Read and check ``folder/manifest.json`` (never through a symbolic link)."""
    root = _package_root(folder)
    return Manifest.from_bytes(_manifest_bytes(root), source=str(root / MANIFEST))


def _package_root(folder: str | Path) -> Path:
    root = Path(folder)
    if not (root / MANIFEST).exists():
        raise NotFound(f"{str(root)!r} is not a model package: it has no {MANIFEST}")
    return root.resolve()


def _manifest_bytes(root: Path) -> bytes:
    with open_inside(root, MANIFEST) as handle:
        data = handle.read(_MAX_MANIFEST_BYTES + 1)
    if len(data) > _MAX_MANIFEST_BYTES:
        raise IntegrityError(f"{str(root / MANIFEST)!r} is larger than {_MAX_MANIFEST_BYTES} bytes")
    return data


def verify_package(folder: str | Path, manifest: Manifest | None = None) -> Manifest:
    """Check every file of the package against the manifest; raise :class:`IntegrityError`.

    Every listed file must be a regular file inside the package with the recorded
    SHA-256 and size; a file the manifest does not list, a symbolic link or a special
    file anywhere in the folder refuses the package.
    """
    root = _package_root(folder)
    manifest = manifest or Manifest.from_bytes(_manifest_bytes(root), source=str(root / MANIFEST))
    _check_files(root, manifest, lambda name: None)
    return manifest


def _check_files(root: Path, manifest: Manifest, sink: Callable[[str], BinaryIO | None]) -> None:
    """Hash every listed file of ``root`` (writing it to ``sink(name)`` too, if not None)."""
    extra = sorted(package_files(root) - manifest.files.keys() - {MANIFEST})
    if extra:
        raise IntegrityError(
            f"model package file {extra[0]!r} is not listed in the manifest; refusing to load"
        )
    for name, expected in sorted(manifest.files.items()):
        with open_inside(root, name) as source:
            target = sink(name)
            try:
                actual = _hash_stream(source, target)
            finally:
                if target is not None:
                    target.close()
        if actual != {"sha256": expected["sha256"], "size": expected["size"]}:
            raise IntegrityError(
                f"model package file {name!r} has SHA-256 {actual['sha256']} ({actual['size']} "
                f"bytes), expected {expected['sha256']} ({expected['size']} bytes); it was "
                "modified and will not be loaded"
            )


def _hash_stream(source: BinaryIO, target: BinaryIO | None) -> dict[str, Any]:
    digest, size = hashlib.sha256(), 0
    while chunk := source.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
        if target is not None:
            target.write(chunk)
    return {"sha256": digest.hexdigest(), "size": size}


class LoadedModel:
    """A verified model, checking its inputs against the signature.

    ``predict`` and ``predict_proba`` take a DataFrame, a list of dicts, or a dict of
    columns; a wrong column, type or category raises ``ValidationError`` naming it.
    """

    def __init__(
        self,
        manifest: Manifest,
        predictor: Predictor,
        compiled: OnnxRunner | None = None,
        note: str | None = None,
    ) -> None:
        self.manifest = manifest
        self.signature = manifest.signature
        self.flavor = manifest.flavor
        self._predictor = predictor
        #: The ONNX session serving this model, if it is compiled (or an ONNX model).
        self.compiled = compiled
        #: Why a compiled graph could not be loaded (it is then served natively).
        self.note = note

    @property
    def engine(self) -> str:
        """The runtime that serves it: ``"onnxruntime"`` or ``"native"``."""
        return "onnxruntime" if self.compiled is not None else "native"

    def __repr__(self) -> str:
        return f"LoadedModel(flavor={self.flavor!r}, inputs={self.signature.names})"

    @property
    def native(self) -> Any:
        """The flavor's own model object (a ``ModelPipeline`` for the modelcycle flavor).

        The serving fast path calls a pipeline on rows directly, without the DataFrame
        that :meth:`predict` builds; inputs must then be checked by the caller.
        """
        return self._predictor.native

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
    """Verify and load a package written by :func:`save_model`.

    The package's files are copied into a private folder while their SHA-256 are
    checked, and the model is loaded from that copy.

    Raises
    ------
    NotFound
        ``folder`` has no manifest.
    IntegrityError
        The manifest is malformed, a file is changed, missing, extra, a link or outside
        the package, the model file holds a type outside the allow-list, or the model's
        own inputs disagree with the manifest's signature.
    PermissionDenied
        The package needs trust (the ``trusted`` flavor) and ``trusted`` is false.
    """
    root = _package_root(folder)
    manifest_bytes = _manifest_bytes(root)
    manifest = Manifest.from_bytes(manifest_bytes, source=str(root / MANIFEST))
    flavor = get_flavor(manifest.flavor)
    if flavor.needs_trust and not (trusted and manifest.trusted):
        raise PermissionDenied(
            f"model package {str(root)!r} uses the {manifest.flavor!r} flavor, which runs the "
            "model's code; it loads only from a version registered with trusted=True"
        )
    with tempfile.TemporaryDirectory(prefix="modelcycle-package-") as folder_copy:
        private = Path(folder_copy)
        _check_files(root, manifest, lambda name: _create(private, name))
        (private / MANIFEST).write_bytes(manifest_bytes)
        predictor = _load_predictor(flavor, private, manifest, root)
        compiled, note = _load_compiled(predictor, private, manifest, root)
    return LoadedModel(manifest, predictor, compiled, note)


def _load_compiled(
    predictor: Predictor, private: Path, manifest: Manifest, root: Path
) -> tuple[OnnxRunner | None, str | None]:
    """The compiled graph's session; a graph that fails to load leaves the native path."""
    if manifest.engine != "onnxruntime":
        return None, None
    runner = getattr(predictor, "runner", None)
    if isinstance(runner, OnnxRunner):  # the onnx flavor: the model is the graph
        return runner, None
    runtime = manifest.runtime
    data = (private / runtime["file"]).read_bytes()
    what = f"model package {str(root)!r} file {runtime['file']!r}"
    layout = check_onnx_bytes(data, manifest.signature, (), what=what)
    if layout != runtime["layout"]:
        raise IntegrityError(
            f"{what} reads its inputs as {layout}, the manifest says {runtime['layout']}"
        )
    try:
        return OnnxRunner(data, manifest.signature, layout, output=runtime["output"]), None
    except Exception as exc:  # a graph this onnxruntime cannot run: the original answers
        return None, f"the compiled graph could not be loaded ({_short(exc)}); served natively"


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:300]


def _create(folder: Path, name: str) -> BinaryIO:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "xb")


def _load_predictor(flavor: Flavor, private: Path, manifest: Manifest, root: Path) -> Predictor:
    """Load the verified copy; every failure names the package the caller gave."""
    try:
        predictor = flavor.load_signed(private, manifest.meta, manifest.signature)
    except ModelcycleError as exc:
        message = f"model package {str(root)!r}: {exc.message}"
        raise type(exc)(message, details=exc.details) from None
    except Exception as exc:  # the files are verified: anything else is a broken package
        raise IntegrityError(f"model package {str(root)!r} could not be loaded: {exc!r}") from exc
    if predictor.native is not None:
        problems = flavor.signature_problems(predictor.native, manifest.signature.names)
        if problems:
            raise IntegrityError(
                f"model package {str(root)!r}: its manifest's signature does not match the "
                "model (" + "; ".join(problems) + "); the manifest was edited after saving"
            )
    return predictor
