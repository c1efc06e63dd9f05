"""The served models: an immutable snapshot swapped atomically when an alias moves.

A request reads :attr:`ModelHub.snapshot` once and uses that mapping to the end, so
it is answered by exactly one version even while a promotion swaps in another. Loading
happens off the request path (in a worker thread); the database is only read by the
watcher, never by a request.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Mapping
from types import MappingProxyType

from modelcycle.core import ModelcycleError, ModelRef, NotFound
from modelcycle.registry import Registry
from modelcycle.serving._errors import NotReady
from modelcycle.serving._model import ServedModel, load_served

_LOG = logging.getLogger("modelcycle.serving")

Snapshot = Mapping[str, ServedModel]


class ModelHub:
    """Loads the served references, follows their aliases, and answers ``get(ref)``.

    Parameters
    ----------
    registry:
        Where versions are resolved and loaded from.
    refs:
        The references served (``name``, ``name@alias``, ``name/version``).
    max_rows:
        Row cap passed to each version's validator.
    onnx_threads:
        onnxruntime's threads inside one call of a compiled model.

    Thread-safety: :meth:`refresh` runs on one thread at a time (the watcher);
    readers only read the snapshot attribute, whose replacement is atomic.
    """

    def __init__(
        self, registry: Registry, refs: tuple[str, ...], *, max_rows: int, onnx_threads: int = 1
    ) -> None:
        self.registry = registry
        self.refs = tuple(dict.fromkeys(str(ModelRef.parse(ref)) for ref in refs))
        self.max_rows = max_rows
        self.onnx_threads = onnx_threads
        self.snapshot: Snapshot = MappingProxyType({})
        self.problem: str | None = "models are loading"
        self._cache: dict[tuple[str, int], ServedModel] = {}

    @property
    def ready(self) -> bool:
        """Whether every served reference has a loaded, warmed version."""
        return len(self.snapshot) == len(self.refs)

    def get(self, ref: str) -> ServedModel:
        """The version answering ``ref`` now (a bare name means ``@champion``).

        A reference not served is :class:`NotFound`, whose message never lists the
        served models: the caller's key may not be allowed to see them.
        """
        key = str(ModelRef.parse(ref))
        served = self.snapshot.get(key)
        if served is not None:
            return served
        if key in self.refs:
            raise NotReady(f"model {key!r} is not loaded yet: {self.problem}")
        raise NotFound(
            f"model {key!r} is not served here; GET /v1/models lists the served models "
            "(with a key that may read them)",
            details={"ref": key},
        )

    def by_name(self, name: str) -> ServedModel:
        """The served version of model ``name`` (its first served reference)."""
        return self.get(self.ref_named(name))

    def ref_named(self, name: str) -> str:
        """The first served reference of model ``name``."""
        for key in self.refs:
            if ModelRef.parse(key).name == name:
                return key
        raise NotFound(
            f"no served model is named {name!r}; GET /v1/models lists the served models "
            "(with a key that may read them)",
            details={"name": name},
        )

    def refresh(self) -> bool:
        """Resolve every reference; load and warm moved ones; swap the snapshot. True if changed.

        A reference that fails to resolve or load keeps its current version (if any)
        and is reported by :attr:`problem`; the others are still refreshed.
        """
        current: dict[str, ServedModel] = {}
        problems = []
        for ref in self.refs:
            try:
                current[ref] = self._load(ref)
            except ModelcycleError as error:
                problems.append(f"{ref}: {error.message}")
                if ref in self.snapshot:
                    current[ref] = self.snapshot[ref]
        for problem in problems:
            _LOG.warning("serving: %s", problem)
        self.problem = "; ".join(problems) or None
        changed = _versions(current) != _versions(self.snapshot)
        self.snapshot = MappingProxyType(current)
        live = {(m.name, m.version) for m in current.values()}
        self._cache = {key: model for key, model in self._cache.items() if key in live}
        return changed

    def _load(self, ref: str) -> ServedModel:
        version = self.registry.resolve(ref)
        key = (version.name, version.version)
        cached = self._cache.get(key)
        if cached is None:
            cached = load_served(
                self.registry, version.ref, max_rows=self.max_rows, onnx_threads=self.onnx_threads
            )
            self._cache[key] = cached
            _LOG.info("serving %s with version %s", ref, version.version)
        return cached

    async def watch(self, interval_s: float, *, freeze_gc: bool = False) -> None:
        """Refresh every ``interval_s`` seconds, and at once when an alias moves, until cancelled.

        On PostgreSQL the registry announces every alias move (``NOTIFY``) and this
        watcher, listening, refreshes as soon as it hears one, so all the replicas of a
        server follow a promotion or rollback together; the interval remains the
        fallback (and the only clock on SQLite). Errors are logged, not fatal. With
        ``freeze_gc`` the loaded models are frozen out of the garbage collector's
        scans after every change (see ``ServeSettings.freeze_gc``).
        """
        listener = self.registry.alias_listener()
        try:
            while True:
                try:
                    changed = await asyncio.to_thread(self.refresh)
                    if changed and freeze_gc:
                        gc.collect()
                        gc.freeze()
                except Exception:  # the watcher must outlive a bad moment of the database
                    _LOG.exception("serving: refreshing the served models failed")
                if listener is None:
                    await asyncio.sleep(interval_s)
                else:
                    await asyncio.to_thread(listener.wait, interval_s)
        finally:
            if listener is not None:
                listener.close()


def _versions(snapshot: Snapshot) -> dict[str, tuple[str, int]]:
    return {ref: (model.name, model.version) for ref, model in snapshot.items()}


def missing_refs(registry: Registry, refs: tuple[str, ...]) -> list[str]:
    """The references that do not resolve now, each with the reason (for the CLI to refuse)."""
    problems = []
    for ref in refs:
        try:
            registry.resolve(ref)
        except ModelcycleError as error:
            problems.append(f"{ref}: {error.message}")
    return problems
