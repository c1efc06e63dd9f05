"""``modelcycle models show`` and the model card say which runtime serves a version (issue 17)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import LogisticRegression

import modelcycle as mc
from tests.models import run_cli


@pytest.fixture
def home(tmp_path: Path) -> str:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=200).round(3), "b": rng.normal(size=200).round(3)})
    folder = tmp_path / "ws"
    with mc.Workspace(folder) as ws:
        for name, model in [
            ("compiled", LogisticRegression().fit(x, x.a > x.b)),
            ("uncompiled", KernelRidge().fit(x, x.a)),
        ]:
            with ws.start_run(experiment="runtime", name=name) as run:
                run.log_model(model, signature=x.head(30))
            ws.registry.register(run, name=name)
    return str(folder)


def test_models_show_says_the_runtime_and_the_agreement(
    capsys: pytest.CaptureFixture[str], home: str, tmp_path: Path
) -> None:
    code, out, _ = run_cli(capsys, "-w", home, "models", "show", "compiled/1")
    assert code == 0
    assert "served by: onnxruntime (compiled; agrees with the original on 286 rows" in " ".join(
        out.split()
    )
    code, out, _ = run_cli(capsys, "-w", home, "models", "show", "uncompiled/1", "--json")
    runtime = json.loads(out)["runtime"]
    assert runtime["engine"] == "native" and "KernelRidge" in runtime["reason"]
    assert runtime["summary"].startswith("native (not compiled: the ONNX converter refused it")
    card = tmp_path / "card.md"
    assert run_cli(capsys, "-w", home, "models", "card", "compiled/1", "-o", str(card))[0] == 0
    assert "- **Served by:** onnxruntime (compiled; agrees with the original on 286 rows" in (
        card.read_text()
    )
