"""Docs are generated from the code and must be current: nothing goes undocumented."""

from __future__ import annotations

import re
from pathlib import Path

from modelcycle.cli._reference import cli_reference, metrics_reference, settings_reference

DOCS = Path(__file__).parent.parent / "docs"
HINT = "regenerate with: python -m modelcycle.cli._reference docs"


def test_cli_reference_is_current() -> None:
    assert (DOCS / "cli.md").read_text() == cli_reference(), HINT


def test_metrics_reference_is_current() -> None:
    assert (DOCS / "metrics.md").read_text() == metrics_reference(), HINT


def test_settings_reference_is_current() -> None:
    assert (DOCS / "settings.md").read_text() == settings_reference(), HINT


def test_readme_opens_with_the_two_commands() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)[:2]
    assert blocks[0].endswith("modelcycle demo")
    assert blocks[1] in ci, "'.ci/run' must run exactly the README's test command"


def test_the_readme_lists_every_exit_code() -> None:
    """Scripts branch on exit codes: each one the CLI can return is documented."""
    from modelcycle.cli._output import ALERT_EXIT_CODE, REJECTED_EXIT_CODE
    from modelcycle.core import ModelcycleError

    def subclasses(cls: type) -> list[type]:
        return [cls, *(s for c in cls.__subclasses__() for s in subclasses(c))]

    codes = {c.exit_code for c in subclasses(ModelcycleError)}
    codes |= {0, ALERT_EXIT_CODE, REJECTED_EXIT_CODE, 130}
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    table = set(re.findall(r"^\| (\d+) \|", readme, flags=re.M))
    assert {str(code) for code in codes} <= table
