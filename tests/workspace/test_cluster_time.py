"""A time-capped cluster fit: fewer rows per round first, fewer rounds only then."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from modelcycle.workspace._train_cluster import (
    MAX_LEARNING_RATE,
    MIN_BAGGED_ROWS,
    MIN_BAGGING_FRACTION,
    _within_time,
    rounds_warning,
)


@given(
    wanted=st.integers(10, 5000),
    affordable=st.integers(10, 5000),
    train_rows=st.integers(1_000, 100_000_000),
    drawn=st.none() | st.floats(0.5, 1.0),
    rate=st.floats(0.01, 0.3),
)
def test_the_fit_stays_within_the_time_of_the_affordable_rounds(
    wanted: int, affordable: int, train_rows: int, drawn: float | None, rate: float
) -> None:
    params = {"learning_rate": rate}
    if drawn is not None:
        params |= {"bagging_fraction": drawn, "bagging_freq": 1}
    chosen, rounds = _within_time(params, wanted, affordable, train_rows)
    before = drawn or 1.0
    after = chosen.get("bagging_fraction", 1.0) if chosen.get("bagging_freq") else 1.0
    assert rounds <= wanted and after <= before
    if affordable >= wanted:
        assert (chosen, rounds) == (params, wanted)
        return
    # rows read: no more than the affordable rounds read at the search's share
    assert rounds * after <= max(affordable, 10) * before * (1 + 1e-9) + after
    floor = min(before, max(MIN_BAGGING_FRACTION, MIN_BAGGED_ROWS / train_rows))
    assert after >= floor - 1e-12
    if rounds == wanted:  # the rows per round made it fit: the learning rate is the search's
        assert chosen["learning_rate"] == rate
    else:  # the share is at its floor, and the rate makes up for the rounds it lacks
        assert after == floor
        assert chosen["learning_rate"] == min(MAX_LEARNING_RATE, rate * wanted / rounds)


def _fitted(planned: int, searched: int, trained: int) -> dict[str, float]:
    return {
        "cluster_rounds_planned": planned,
        "cluster_rounds_searched": searched,
        "cluster_rounds_trained": trained,
        "cluster_final_learning_rate": 0.3,
    }


def test_a_fit_cut_to_under_half_its_rounds_warns_with_the_counts() -> None:
    message = rounds_warning(_fitted(planned=700, searched=735, trained=56))
    assert message is not None and "56 of the 700 rounds" in message and "--budget" in message
    assert rounds_warning(_fitted(planned=700, searched=735, trained=349)) is not None
    assert rounds_warning(_fitted(planned=700, searched=735, trained=350)) is None
    assert rounds_warning(_fitted(planned=700, searched=735, trained=700)) is None


def test_more_rounds_planned_than_searched_warn_against_the_searched_count() -> None:
    """Pacing planned 2,000 rounds but the search needed 100: 60 trained is no shortfall."""
    assert rounds_warning(_fitted(planned=2000, searched=100, trained=60)) is None
    assert rounds_warning(_fitted(planned=2000, searched=100, trained=49)) is not None
