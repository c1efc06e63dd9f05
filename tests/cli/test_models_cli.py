"""``modelcycle models`` and the top-level promote/rollback commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import modelcycle as mc
from tests.models import Data, log_logistic, run_cli


@pytest.fixture
def home(tmp_path: Path, cancer: Data) -> str:
    folder = tmp_path / "ws"
    with mc.Workspace(folder) as ws:
        for c in (1.0, 1e-6):
            ws.registry.register(log_logistic(ws, cancer, c), name="cancer")
    return str(folder)


def test_models_lifecycle_from_the_command_line(
    capsys: pytest.CaptureFixture[str], home: str, tmp_path: Path
) -> None:
    gates = tmp_path / "gates.toml"
    gates.write_text(
        'beat_champion = "test_roc_auc"\nbeat_by = 0.001\n[min_metrics]\ntest_roc_auc = 0.9\n'
    )
    assert run_cli(capsys, "-w", home, "models", "gates", "cancer", "--set", str(gates))[0] == 0
    assert run_cli(capsys, "-w", home, "promote", "cancer", "1")[0] == 0
    code, _, err = run_cli(capsys, "-w", home, "promote", "cancer", "2")
    assert code == 4 and "cannot become @champion" in err and "Traceback" not in err
    code, out, _ = run_cli(capsys, "-w", home, "models", "promote", "cancer", "2", "--force")
    assert code == 0 and "cancer/2 is now @champion" in out
    code, out, _ = run_cli(capsys, "-w", home, "rollback", "cancer")
    assert code == 0 and "rolled back to version 1" in out
    code, out, _ = run_cli(capsys, "-w", home, "models", "show", "cancer", "--json")
    shown = json.loads(out)
    assert shown["version"] == 1 and [e["action"] for e in shown["alias_history"]] == [
        "promote",
        "promote",
        "rollback",
    ]
    code, out, _ = run_cli(capsys, "-w", home, "models", "list", "--json")
    assert json.loads(out)[0]["aliases"] == {"champion": 1}
    code, out, _ = run_cli(capsys, "-w", home, "models", "versions", "cancer", "--json")
    assert [v["version"] for v in json.loads(out)] == [2, 1]
    code, _, err = run_cli(capsys, "-w", home, "models", "archive", "cancer", "1")
    assert code == 4 and "is @champion" in err
    assert run_cli(capsys, "-w", home, "models", "archive", "cancer", "2")[0] == 0
    card = tmp_path / "card.html"
    assert run_cli(capsys, "-w", home, "models", "card", "cancer", "-o", str(card))[0] == 0
    assert "<h1>Model card: cancer version 1</h1>" in card.read_text()
    code, out, _ = run_cli(capsys, "-w", home, "models", "lineage", "cancer", "--json")
    lineage = json.loads(out)
    code, out, _ = run_cli(
        capsys,
        "-w",
        home,
        "models",
        "lineage",
        lineage["version"]["train_dataset"],
        "--dataset",
        "--json",
    )
    assert [v["version"] for v in json.loads(out)] == [1, 2]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["promote", "cancer", "1", "--alias", "two words"], 2, "alias 'two words' is not valid"),
        (["promote", "nope", "1"], 3, "model 'nope' is not registered"),
        (["models", "show", "cancer/9"], 3, "has no version 9"),
        (["models", "show", "9cancer"], 2, "model reference '9cancer' is not valid"),
        (["rollback", "cancer"], 4, "no previous @champion"),
    ],
)
def test_models_errors(
    capsys: pytest.CaptureFixture[str], home: str, args: list[str], code: int, message: str
) -> None:
    exit_code, out, err = run_cli(capsys, "-w", home, *args)
    assert exit_code == code, err
    assert message in err and "Traceback" not in out + err
