"""Find the git commit of the code that is calling modelcycle."""

from __future__ import annotations

import subprocess
import sys
from functools import lru_cache
from pathlib import Path


def caller_source() -> str | None:
    """The path of the running script (``__main__``), or ``None`` in a REPL."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return str(Path(path).resolve()) if path else None


@lru_cache(maxsize=64)
def git_commit(folder: str) -> str | None:
    """The HEAD commit of the git work tree holding ``folder``, or ``None``.

    A work tree with uncommitted changes gets a ``-dirty`` suffix, so a run never
    claims code it did not run.
    """
    try:
        head = subprocess.run(
            ["git", "-C", folder, "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )  # fmt: skip
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "-C", folder, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    commit = head.stdout.strip()
    return f"{commit}-dirty" if status.stdout.strip() else commit


def caller_git_commit() -> str | None:
    """The commit of the running script's repository (or of the current folder)."""
    source = caller_source()
    folder = str(Path(source).parent) if source else str(Path.cwd())
    return git_commit(folder)
