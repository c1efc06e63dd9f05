"""The job kinds every worker runs, by name."""

from __future__ import annotations

from collections.abc import Mapping

from modelcycle.lifecycle._check import run_check
from modelcycle.lifecycle._context import Handler
from modelcycle.lifecycle._monitor_task import run_monitor
from modelcycle.lifecycle._retrain import run_retrain

#: ``monitor`` (monitoring and alerts), ``retrain`` (challenger against champion),
#: ``check`` (confirm or roll back a promotion on new labels).
DEFAULT_HANDLERS: Mapping[str, Handler] = {
    "monitor": run_monitor,
    "retrain": run_retrain,
    "check": run_check,
}
