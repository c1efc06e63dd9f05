"""Two processes promoting at once leave exactly one consistent champion and history."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import modelcycle as mc
from tests.models import Data, log_logistic

ROUNDS = 15

_PROMOTER = textwrap.dedent(
    """
    import sys, time
    import modelcycle as mc
    url, artifacts = sys.argv[1], sys.argv[2]
    version, start_at = int(sys.argv[3]), float(sys.argv[4])
    ws = mc.Workspace(db_url=url, artifact_root=artifacts)
    time.sleep(max(0.0, start_at - time.time()))
    for _ in range({rounds}):
        ws.registry.promote("cancer", version, force=True, actor=f"process-{{version}}")
        ws.registry.promote("cancer", 3 - version, "challenger", force=True)
    ws.close()
    """
).format(rounds=ROUNDS)


def _race(url: str, artifacts: Path, cancer: Data) -> None:
    with mc.Workspace(db_url=url, artifact_root=str(artifacts)) as ws:
        for c in (1.0, 0.1):
            ws.registry.register(log_logistic(ws, cancer, c), name="cancer")
    start_at = time.time() + 3
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PROMOTER, url, str(artifacts), str(v), str(start_at)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in (1, 2)
    ]
    for proc in procs:
        _, stderr = proc.communicate(timeout=240)
        assert proc.returncode == 0, stderr
    with mc.Workspace(db_url=url, artifact_root=str(artifacts)) as ws:
        for alias in ("champion", "challenger"):
            history = ws.registry.alias_history("cancer", alias)
            assert history[0].from_version is None
            for before, after in itertools.pairwise(history):
                assert after.from_version == before.to_version  # one unbroken chain
            current = ws.registry.resolve(f"cancer@{alias}").version
            assert history[-1].to_version == current
        champions = [v for v in ws.registry.versions("cancer") if "champion" in v.aliases]
        assert len(champions) == 1


@pytest.mark.slow
def test_two_processes_promoting_on_sqlite(tmp_path: Path, cancer: Data) -> None:
    _race(f"sqlite:///{tmp_path / 'ws' / 'modelcycle.db'}", tmp_path / "artifacts", cancer)


@pytest.mark.slow
@pytest.mark.postgres
def test_two_processes_promoting_on_postgres(
    postgres_url: str, tmp_path: Path, cancer: Data
) -> None:
    _race(postgres_url, tmp_path / "artifacts", cancer)
