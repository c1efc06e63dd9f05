"""A paced ``lightgbm.dask`` fit ends by its deadline, every worker stopping together."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from distributed import Client
from modelcycle.distributed._pace import MARGIN_ROUNDS, Pace, Plan


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _pace(rounds: int = 100, seconds: float = 10.0, rate: float = 0.1) -> tuple[Pace, _Clock]:
    clock = _Clock()
    return Pace(None, rounds, rate, seconds, max_rate=0.3, clock=clock), clock  # type: ignore[arg-type]


def _see(pace: Pace, clock: _Clock, at: float, done: int) -> Plan | None:
    clock.now = at
    pace._observe(done)
    changed = pace.replan()
    if changed is not None:
        pace.plan = changed
    return changed


def test_a_pace_on_time_keeps_the_plan() -> None:
    pace, clock = _pace(rounds=100, seconds=10.0)
    for second in range(1, 10):
        assert _see(pace, clock, float(second), 10 * second) is None
    assert pace.plan == Plan(100) and pace.seconds_per_round() == pytest.approx(0.1)


def test_nothing_changes_before_the_pace_is_measured() -> None:
    pace, clock = _pace(rounds=1_000, seconds=1.0)
    assert _see(pace, clock, 0.5, 1) is None
    assert _see(pace, clock, 0.9, 2) is None  # 1 round in 0.4 s: not enough to judge
    assert _see(pace, clock, 2.0, 3) is None  # 2 rounds: still not enough


def test_a_slow_fit_trains_fewer_rounds_at_a_rate_raised_from_a_round_ahead() -> None:
    pace, clock = _pace(rounds=100, seconds=10.0, rate=0.1)
    _see(pace, clock, 0.0, 1)
    changed = _see(pace, clock, 3.0, 13)  # a quarter of a second per round: 25 s planned
    assert changed is not None
    # the change applies 8 rounds ahead (2 s of rounds), and 7 s of rounds remain
    assert changed.rate_after == 13 + 8 and changed.stop_after == 13 + 28
    assert changed.rate == pytest.approx(0.3)  # 0.1 * 79 / 20 = 0.395, capped
    # later plans only stop earlier; the rate and the round it applies from stay
    later = _see(pace, clock, 8.0, 20)  # slower still: 0.42 s a round, 2 s left
    assert later is not None and later.rate_after == 21 and later.rate == changed.rate
    assert later.stop_after == 20 + MARGIN_ROUNDS
    report = pace.report(later.stop_after)
    assert report.final_rate == pytest.approx(0.3)
    assert report.mean_rate == pytest.approx((0.1 * 21 + 0.3 * 4) / 25)


def test_past_the_deadline_the_fit_stops_a_margin_ahead() -> None:
    pace, clock = _pace(rounds=1_000, seconds=1.0)
    _see(pace, clock, 0.0, 1)
    changed = _see(pace, clock, 5.0, 11)  # half a second a round, 4 s late
    assert changed == Plan(11 + 5)  # no room for a higher rate to do anything


def test_a_raised_rate_is_never_lower_than_the_planned_one() -> None:
    pace, clock = _pace(rounds=100, seconds=10.0, rate=0.5)  # above the ceiling already
    _see(pace, clock, 0.0, 1)
    changed = _see(pace, clock, 3.0, 13)
    assert changed == Plan(41)


def _shrinkages(booster: Any) -> list[float]:
    return [float(v) for v in re.findall(r"^shrinkage=(\S+)$", booster.model_to_string(), re.M)]


def test_a_paced_fit_on_the_cluster_stops_early_with_the_same_trees_everywhere(
    dask_client: Client,
) -> None:
    import dask.array as da
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    X = rng.normal(size=(4_000, 5))
    y = (X[:, 0] + rng.normal(size=4_000) > 0).astype(float)
    dX, dy = da.from_array(X, chunks=(1_000, 5)), da.from_array(y, chunks=1_000)
    rounds = 20_000  # a minute of rounds or more; the pace has 6 seconds
    pace = Pace(dask_client, rounds, 0.05, 6.0, max_rate=0.3)
    model = lgb.DaskLGBMClassifier(
        client=dask_client, n_estimators=rounds, learning_rate=0.05, num_leaves=7,
        min_data_in_leaf=5, verbosity=-1,
    )  # fmt: skip

    def fit() -> Any:
        with dask_client.as_current():
            model.fit(dX, dy, callbacks=[pace.callback])
        return model.booster_

    booster = pace.run(fit)
    trained = booster.current_iteration()
    # every worker stopped after the planned round (one that went on would have waited
    # for the others forever, and the fit would not have returned)
    assert trained == pace.plan.stop_after < rounds
    shrinkage = _shrinkages(booster)[1:]  # the first tree carries the average: 1
    assert len(shrinkage) == trained - 1
    if pace.plan.rate_after is not None:  # the rate was raised from that round on
        after = pace.plan.rate_after - 1
        assert shrinkage[:after] == [0.05] * after
        assert shrinkage[after:] == [pytest.approx(pace.plan.rate)] * (trained - 1 - after)
    else:
        assert set(shrinkage) == {0.05}
    assert pace.report(trained).seconds_per_round is not None
    names = [k for k in dask_client.run_on_scheduler(_variables) if "modelcycle-pace" in k]
    assert names == []  # the plan and the progress are deleted


def _variables(dask_scheduler: Any) -> list[str]:
    return list(dask_scheduler.extensions["variables"].variables)


def test_a_worker_lost_mid_fit_ends_the_fit_with_an_error_saying_so() -> None:
    import os
    import signal
    import threading
    import time

    import dask.array as da
    import lightgbm as lgb

    from distributed import LocalCluster
    from modelcycle.core import ModelcycleError

    quiet = {"dashboard_address": None, "processes": True, "silence_logs": 50}
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="1GiB", **quiet) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        rng = np.random.default_rng(0)
        X = rng.normal(size=(4_000, 5))
        y = (X[:, 0] > 0).astype(float)
        dX, dy = da.from_array(X, chunks=(1_000, 5)), da.from_array(y, chunks=1_000)
        pace = Pace(client, 50_000, 0.05, 600.0, max_rate=0.3)
        model = lgb.DaskLGBMClassifier(
            client=client, n_estimators=50_000, num_leaves=7, verbosity=-1, time_out=1
        )

        def fit() -> Any:
            with client.as_current():
                model.fit(dX, dy, callbacks=[pace.callback])
            return model.booster_

        victim = min(client.run(os.getpid).values())

        def kill_when_training() -> None:
            while pace._latest is None:
                time.sleep(0.05)
            os.kill(victim, signal.SIGKILL)

        threading.Thread(target=kill_when_training, daemon=True).start()
        with pytest.raises(
            ModelcycleError, match=r"left the Dask cluster during the LightGBM"
        ) as caught:
            pace.run(fit)
        # whichever saw it first (the pace's watch, or the other worker's socket), the
        # error names the worker that left and what to do
        assert "give the workers more memory" in str(caught.value)


def _spill_threshold(dask_worker: Any) -> Any:
    return dask_worker.memory_manager.memory_spill_fraction


def test_spilling_is_off_during_the_fit_and_as_it_was_after(dask_client: Client) -> None:
    from modelcycle.distributed._lightgbm import spilling_paused

    before = dask_client.run(_spill_threshold)
    assert all(isinstance(v, float) for v in before.values())
    with spilling_paused(dask_client):
        assert set(dask_client.run(_spill_threshold).values()) == {False}
    assert dask_client.run(_spill_threshold) == before
    with pytest.raises(KeyError), spilling_paused(dask_client):  # restored on errors too
        raise KeyError("fit failed")
    assert dask_client.run(_spill_threshold) == before


def _round_without_a_plan(name: str) -> str:
    import lightgbm as lgb

    from modelcycle.distributed._pace import _Paced

    env = lgb.callback.CallbackEnv(None, {}, 4, 0, 100, None)
    try:
        _Paced(name, wait=0.5)(env)
    except lgb.callback.EarlyStopException as stop:
        return f"stopped after round {stop.best_iteration + 1}"
    return "went on"


def test_a_worker_that_finds_no_plan_stops_rather_than_waiting_forever(
    dask_client: Client,
) -> None:
    # the client's watch failed and its plan is gone: waiting on it would hold the
    # worker's thread for good
    done = dask_client.submit(_round_without_a_plan, "modelcycle-pace-gone", pure=False)
    assert done.result(timeout=60) == "stopped after round 5"
