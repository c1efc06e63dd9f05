"""Model cards: what a version is for, what it was trained on, how good it is, where it fails."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelcycle.packaging import describe_runtime
from modelcycle.records import Validation
from modelcycle.registry._registry import Registry
from modelcycle.reports import notebook_frame, render_page


@dataclass(frozen=True)
class ModelCard:
    """A version's model card: :attr:`data`, as Markdown or HTML, and inline in Jupyter."""

    data: dict[str, Any]

    def to_markdown(self) -> str:
        """The card as Markdown."""
        return render_markdown(self.data)

    def to_html(self) -> str:
        """The card as one self-contained HTML page."""
        return render_html(self.data)

    def _repr_html_(self) -> str:
        return notebook_frame(self.to_html())


def model_card(registry: Registry, ref: str, *, intended_use: str | None = None) -> ModelCard:
    """The model card of the version ``ref`` names (``name``, ``name@alias``, ``name/3``).

    Examples
    --------
    >>> model_card(workspace.registry, "churn@champion")  # doctest: +SKIP
    """
    return ModelCard(card_data(registry, ref, intended_use=intended_use))


def card_data(registry: Registry, ref: str, *, intended_use: str | None = None) -> dict[str, Any]:
    """Everything a model card shows, as plain data."""
    version = registry.resolve(ref)
    lineage = registry.lineage(version.ref)
    record = registry.training_record(version)
    evaluation = record.evaluation if record is not None else None
    validation = record.validation if record is not None else Validation("not recorded")
    run = lineage.get("run") or {}
    runtime = registry.manifest(version.ref).runtime
    return {
        "version": version.to_dict(),
        "runtime": {**runtime, "summary": describe_runtime(runtime)},
        "intended_use": intended_use or registry.description(version.name) or "Not stated.",
        "datasets": run.get("datasets", []) or (lineage.get("parent") or {}).get("datasets", []),
        "metrics": dict(version.metrics),
        "intervals": {k: list(v) for k, v in evaluation.intervals.items()} if evaluation else {},
        "slices": [s.to_dict() for s in evaluation.slices[:10]] if evaluation else [],
        "validation": {
            "status": validation.status,
            "failures": "; ".join(validation.failures) or None,
            "warnings": [issue.message for issue in validation.warnings],
        },
        "lineage": {
            "run_id": version.run_id,
            "experiment": run.get("experiment"),
            "parent_run_id": run.get("parent_run_id"),
            "trials": len(lineage.get("trials", [])),
            "git_commit": version.git_commit,
            "package_versions": dict(version.package_versions),
        },
        "history": [
            e.to_dict()
            for e in registry.alias_history(version.name)
            if version.version in (e.from_version, e.to_version)
        ],
    }


def _metric_rows(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    for key, value in sorted(data["metrics"].items()):
        interval = data["intervals"].get(key) or data["intervals"].get(key.removeprefix("test_"))
        shown = f"[{interval[0]:.4g}, {interval[1]:.4g}]" if interval else "-"
        rows.append((key, f"{value:.6g}", shown))
    return rows


def render_markdown(data: dict[str, Any]) -> str:
    """The card as Markdown."""
    v = data["version"]
    aliases = ", ".join("@" + a for a in v["aliases"]) or "none"
    lines = [
        f"# Model card: {v['name']} version {v['version']}",
        "",
        f"- **Status:** {v['status']}; aliases: {aliases}",
        f"- **Flavor:** {v['flavor']}; trusted code: {'yes' if v['trusted'] else 'no'}",
        f"- **Served by:** {data['runtime']['summary']}",
        f"- **Created:** {v['created_at']} by {v['creator'] or 'unknown'}",
        "",
        "## Intended use",
        "",
        data["intended_use"],
        "",
        "## Data",
        "",
        "| role | name | SHA-256 | rows | columns |",
        "|---|---|---|---|---|",
    ]
    for d in data["datasets"]:
        name, digest, width = d["name"] or "-", d["dataset_hash"][:16], len(d["columns"])
        lines.append(f"| {d['role']} | {name} | `{digest}` | {d['rows']} | {width} |")
    lines += ["", "## Metrics", "", "| metric | value | 95% interval |", "|---|---|---|"]
    lines += [f"| {k} | {value} | {interval} |" for k, value, interval in _metric_rows(data)]
    checks = data["validation"]
    lines += ["", "## Data checks", "", f"Validation: **{checks['status']}**"]
    if checks["failures"]:
        lines.append(f"Failed on: {checks['failures']}")
    lines += [""] + [f"- {warning}" for warning in checks["warnings"]]
    if not checks["warnings"]:
        lines.append("No warnings were recorded.")
    lines += ["", "## Where it fails", ""]
    if data["slices"]:
        lines += ["| slice | rows | error | overall |", "|---|---|---|---|"]
        for s in data["slices"]:
            error, overall = s.get("error", 0.0), s.get("overall_error", 0.0)
            lines.append(
                f"| {s.get('description')} | {s.get('size')} | {error:.4g} | {overall:.4g} |"
            )
    else:
        lines.append("No error analysis was recorded for this version.")
    lines += [
        "",
        "## Signature",
        "",
        "| input | type | required | nullable | allowed values |",
        "|---|---|---|---|---|",
    ]
    for spec in v["signature"]["inputs"]:
        allowed = ", ".join(spec.get("categories", [])[:10]) if spec.get("categories") else "-"
        required = spec.get("required", True)
        lines.append(
            f"| {spec['name']} | {spec['type']} | {required} | {spec['nullable']} | {allowed} |"
        )
    task, classes = v["signature"].get("task"), v["signature"].get("classes")
    lines += [
        "",
        f"Output: {task or 'unknown task'}" + (f", classes {classes}" if classes else ""),
        "",
    ]
    lineage = data["lineage"]
    lines += [
        "## Lineage",
        "",
        f"- Run `{lineage['run_id']}` in experiment {lineage['experiment']!r}"
        + (f", child of `{lineage['parent_run_id']}`" if lineage["parent_run_id"] else ""),
        f"- Trials in the search: {lineage['trials']}",
        f"- Code: {lineage['git_commit'] or 'not in a git repository'}",
        "- Packages: "
        + ", ".join(f"{k} {val}" for k, val in sorted(lineage["package_versions"].items())),
        "",
    ]
    return "\n".join(lines)


def render_html(data: dict[str, Any]) -> str:
    """The card as one self-contained HTML page (tables, no scripts)."""
    return render_page("card.html.j2", {"card": data, "metric_rows": _metric_rows(data)})
