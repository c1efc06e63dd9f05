"""The ``modelcycle`` command: tables, JSON, and one clear line (no traceback) for mistakes."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

import modelcycle as mc
from tests.models import run_cli


@pytest.fixture
def home(tmp_path: Path) -> str:
    folder = tmp_path / "ws"
    with mc.Workspace(folder) as ws:
        for name, auc, lr in (("alpha", 0.93, "0.1"), ("beta", 0.81, "0.01")):
            with ws.start_run(experiment="churn", name=name) as run:
                run.log_params({"lr": lr})
                run.log_metric("auc", auc)
    return str(folder)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out.strip() == f"modelcycle {mc.__version__}"


def test_runs_list_table_and_json(capsys: pytest.CaptureFixture[str], home: str) -> None:
    code, out, _ = run_cli(capsys, "-w", home, "runs", "list")
    assert code == 0 and "alpha" in out and "beta" in out and "0.93" in out
    code, out, _ = run_cli(
        capsys,
        "-w",
        home,
        "runs",
        "list",
        "--json",
        "-f",
        "metrics.auc > 0.9",
        "-o",
        "metrics.auc DESC",
    )
    assert code == 0
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["alpha"]
    assert rows[0]["metrics"] == {"auc": 0.93} and rows[0]["params"] == {"lr": "0.1"}


def test_runs_show_by_prefix_and_compare(capsys: pytest.CaptureFixture[str], home: str) -> None:
    with mc.Workspace(home) as ws:
        ids = {r.name: r.run_id for r in ws.runs("churn")}
    code, out, _ = run_cli(capsys, "-w", home, "runs", "show", ids["alpha"][:8], "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["run_id"] == ids["alpha"] and shown["status"] == "FINISHED"
    assert shown["artifacts"] == [] and shown["children"] == []
    code, out, _ = run_cli(capsys, "-w", home, "runs", "show", ids["beta"])
    assert code == 0 and ids["beta"] in out and "params" in out
    code, out, _ = run_cli(capsys, "-w", home, "runs", "compare", ids["alpha"], ids["beta"][:6])
    assert code == 0 and "params.lr" in out and "metrics.auc" in out
    code, out, _ = run_cli(
        capsys, "-w", home, "runs", "compare", ids["alpha"], ids["beta"], "--json"
    )
    assert [r["name"] for r in json.loads(out)] == ["alpha", "beta"]


def test_experiments_and_db_commands(capsys: pytest.CaptureFixture[str], home: str) -> None:
    code, out, _ = run_cli(capsys, "-w", home, "experiments", "list", "--json")
    assert code == 0 and [(e["name"], e["runs"]) for e in json.loads(out)] == [("churn", 2)]
    code, out, _ = run_cli(capsys, "-w", home, "db", "upgrade")
    assert code == 0 and "up to date" in out
    code, out, _ = run_cli(capsys, "-w", home, "db", "status")
    assert code == 0 and "up to date" in out


def test_read_only_commands_on_a_folder_without_a_workspace_create_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Issue 12: 'models list' in the wrong folder used to create an empty workspace there."""
    for args in (["models", "list"], ["runs", "list"], ["audit", "list"], ["experiments", "list"]):
        code, out, err = run_cli(capsys, "-w", str(tmp_path / "nothing"), *args)
        assert code == 3, err
        assert "no workspace at" in err and "modelcycle train" in err and out == ""
    assert not (tmp_path / "nothing").exists()


def test_db_upgrade_of_a_new_database(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run_cli(capsys, "-w", str(tmp_path / "fresh"), "db", "upgrade")
    assert code == 0 and "from revision empty to" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["runs", "list", "-f", "metrics.auc >> 1"], 2, "syntax error at position 14"),
        (["runs", "show", "ffffffff"], 3, "no run id starts with 'ffffffff'"),
        (["runs", "show", "xyz"], 2, "run id 'xyz' is not valid"),
        (["runs", "list", "-o", "metrics.auc upward"], 2, "order_by"),
    ],
)
def test_user_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], home: str, args: list[str], code: int, message: str
) -> None:
    exit_code, out, err = run_cli(capsys, "-w", home, *args)
    assert exit_code == code
    assert message in err and "Traceback" not in err + out
    named, error = err.splitlines()  # the workspace it opened, then one red line
    assert named == f"workspace: {Path(home).resolve()}" and error.startswith("error:")


@pytest.mark.parametrize(
    ("workspace", "message"),
    [
        ("mysql://root@127.0.0.1/test", "scheme 'mysql'"),
        ("postgresql://u:pw@127.0.0.1:1/db", "cannot connect to workspace database"),
    ],
)
def test_bad_workspaces_exit_non_zero_without_traceback(workspace: str, message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "modelcycle", "-w", workspace, "runs", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert "pw@" not in done.stderr


def test_unwritable_workspace_exits_non_zero(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "modelcycle", "-w", str(blocker / "ws"), "users", "create", "bob"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == mc.WorkspaceError.exit_code
    assert "cannot create workspace database folder" in done.stderr
    assert "Traceback" not in done.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "modelcycle", "--debug", "-w", "mysql://x@y/z", "runs", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "Traceback" in done.stderr


@pytest.mark.slow
def test_demo_runs_the_whole_lifecycle(tmp_path: Path) -> None:
    """`modelcycle demo` as a user runs it: a real server and worker as child processes."""
    home, output = tmp_path / "demo", tmp_path / "out"
    command = ["-w", str(home), "demo", "--budget", "10", "--output", str(output), "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "modelcycle", *command],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    steps = {step["name"]: step for step in summary["steps"]}
    assert list(steps) == [
        "train", "promote", "keys", "policy", "serve", "shift", "drift", "labels",
        "retrain", "swap", "confirm", "gate", "audit", "log", "reports",
    ]  # fmt: skip
    assert "on feature 'whrswk'" in summary["drift_alert"]
    retrain = summary["retrain"]
    assert retrain["outcome"] == "promoted" and retrain["version"] == 2
    assert retrain["comparison"]["low"] > 0 and retrain["feedback_rows"] > 0
    assert summary["swap"]["failures"] == [] and set(summary["swap"]["versions"]) == {"1", "2"}
    assert summary["check"]["outcome"] == "confirmed"
    assert summary["refused"]["version"] == 3
    assert any("test_roc_auc" in reason for reason in summary["refused"]["reasons"])
    assert all(Path(path).is_file() for path in summary["reports"].values())
    assert "admin API key" in done.stderr and (home / "admin.key").is_file()
    with mc.Workspace(str(home)) as ws:
        assert ws.registry.resolve("health-insurance@champion").version == 2
        history = [(e.action, e.to_version) for e in ws.registry.alias_history("health-insurance")]
        assert ("promote", 2) in history and ("rollback", 1) not in history
        assert [key.state(datetime.now(UTC)) for key in ws.security.list_keys("demo-app")] == [
            "revoked"
        ]
        actions = {event.action for event in ws.security.audit_events(limit=10_000)}
        assert {"policy.set", "lifecycle.compare", "alias.promote", "key.revoke"} <= actions
        assert ws.policies.get("health-insurance") is None  # no 2-second schedule left behind


#: What start-up must not load: each costs from 0.1 to 1 s at every command.
HEAVY = [
    "pandas", "numpy", "pyarrow", "sqlalchemy", "alembic", "sklearn", "lightgbm", "optuna",
    "scipy", "plotly", "fastapi", "uvicorn", "modelcycle.monitoring", "modelcycle.lifecycle",
    "modelcycle.automl", "modelcycle.workspace", "modelcycle.store",
]  # fmt: skip


def _loaded_after(*args: str, cwd: Path | None = None) -> tuple[str, list[str]]:
    """Run ``modelcycle ARGS`` in a new interpreter: its stderr and the heavy modules it loaded."""
    code = (
        "import json, sys\n"
        "from modelcycle.cli import main\n"
        "try:\n"
        f"    main({list(args)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=cwd
    )
    assert done.returncode == 0, done.stderr
    return done.stderr, json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "args", [["--version"], ["--help"], ["serve", "--help"], ["train", "--help"], ["runs"]]
)
def test_version_and_help_load_no_heavy_module(args: list[str]) -> None:
    """``--version`` and ``--help`` answer in a fraction of a second: nothing heavy loads."""
    _, loaded = _loaded_after(*args)
    assert loaded == []


def _imported_by(*args: str) -> set[str]:
    """Every module ``modelcycle ARGS`` imports, run in a new interpreter as a user runs it.

    (Read from ``sys.modules`` at exit: ``-X importtime`` does not list the modules
    imported by ``importlib.import_module``, as the lazy packages and commands are.)
    """
    code = (
        "import atexit, json, runpy, sys\n"
        "atexit.register(lambda: sys.__stderr__.write(json.dumps(sorted(sys.modules))))\n"
        f"sys.argv = ['modelcycle', *{list(args)!r}]\n"
        "runpy.run_module('modelcycle', run_name='__main__')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    names = set(json.loads(done.stderr[done.stderr.rindex("[") :]))
    assert "modelcycle.cli._app" in names  # the list is read: a test that can fail
    return names


#: What the command list and a light command's help must not import: the settings models
#: (pydantic-settings, ``serve``'s options) and the libraries commands use when they run.
NOT_FOR_HELP = {
    "pydantic_settings", "pandas", "numpy", "sqlalchemy", "alembic", "sklearn", "scipy",
    "pyarrow", "fastapi", "starlette", "uvicorn", "skops", "modelcycle.serving",
}  # fmt: skip


@pytest.mark.parametrize("args", [["--help"], ["runs", "--help"], ["train", "--help"]])
def test_help_builds_no_settings_model(args: list[str]) -> None:
    """Issue 12: ``--help`` lists the commands without building them (no pydantic at all);
    a light command's help builds that command alone (Typer itself loads pydantic to check
    the values of options, but no settings model is built)."""
    imported = _imported_by(*args)
    found = {name for name in imported if name.split(".")[0] in NOT_FOR_HELP}
    found |= {name for name in imported if name.startswith("modelcycle.serving")}
    assert not found, sorted(found)
    assert "modelcycle.core._settings" not in imported
    if args == ["--help"]:
        assert "pydantic" not in imported


def test_serve_help_still_lists_the_server_settings() -> None:
    """``serve``'s options are built from ``ServeSettings`` when its help is asked for."""
    imported = _imported_by("serve", "--help")
    assert "modelcycle.serving._settings" in imported
    assert "fastapi" not in imported and "pandas" not in imported


def test_the_lazy_command_list_is_the_full_tree(capsys: pytest.CaptureFixture[str]) -> None:
    """The root's ``--help`` lists each command from its docstring without building it:
    the listing equals the one of the tree with every command built, and every Typer app
    of the CLI's modules is a command of the tree (none forgotten by the registry)."""
    import importlib
    import pkgutil

    import typer

    import modelcycle.cli
    from modelcycle.cli._app import COMMANDS, build_command

    def root_help(full: bool) -> str:
        root = build_command()
        if full:  # every command built, as Typer builds a tree registered eagerly
            built = {name: root.commands[name] for name in root.list_commands(None)}
            root.get_command = lambda ctx, name: built.get(name)
        ctx = root.make_context("modelcycle", [], resilient_parsing=True, terminal_width=100)
        capsys.readouterr()
        with ctx:
            root.get_help(ctx)  # Typer's Rich help prints (on stdout) and returns ""
        return capsys.readouterr().out

    lazy, full = root_help(full=False), root_help(full=True)
    assert "serve" in lazy and "Serve models over HTTP" in lazy
    assert lazy == full
    apps = set()
    for module in pkgutil.iter_modules(modelcycle.cli.__path__, "modelcycle.cli."):
        found = importlib.import_module(module.name)
        apps |= {
            f"{module.name}:{name}"
            for name, value in vars(found).items()
            if isinstance(value, typer.Typer) and name != "app"
        }
    assert apps <= set(COMMANDS.values()), sorted(apps - set(COMMANDS.values()))


def test_the_version_alone_builds_no_command_tree() -> None:
    """``modelcycle --version`` (scripts and health checks call it) loads neither Typer nor
    pydantic: it is answered before the commands are built."""
    code = (
        "import sys\n"
        "from modelcycle.cli import main\n"
        "main(['--version'])\n"
        "print(sorted(m for m in ('typer', 'pydantic', 'rich', 'modelcycle.cli._app')"
        " if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"modelcycle {mc.__version__}", "[]"]


def test_a_misspelt_target_is_refused_from_the_header(tmp_path: Path) -> None:
    """Before the workspace is created, AutoML loads and the file is read whole."""
    (tmp_path / "d.csv").write_text("age,income,bought\n31,4.5,yes\n45,3.1,no\n")
    err, loaded = _loaded_after("-w", "ws", "train", "d.csv", "--target", "boght", cwd=tmp_path)
    assert "target column 'boght' is not in 'd.csv'" in err and "'bought'" in err
    assert not {"sqlalchemy", "sklearn", "optuna", "modelcycle.automl"} & set(loaded), loaded
    assert "pandas" not in loaded  # a CSV's header is read with pyarrow alone (issue 12)
    assert not (tmp_path / "ws").exists()


#: What a server does not load at start (training's machinery, what it needs only later).
LATER = ("skops.io", "optuna", "dask", "pytest", "alembic", "jinja2", "modelcycle.web._app")


def test_a_server_loads_no_training_machinery(tmp_path: Path) -> None:
    """``modelcycle serve`` starts in seconds: what only training needs stays unloaded.

    skops imports every scikit-learn estimator as it loads (and dask and pytest with
    them); Optuna draws search spaces. A model without skops files needs neither. Nor
    does a server load at start what it needs later (issue 12): Alembic (the workspace is
    current), Jinja (no page rendered yet) and the dashboard (built on its first page).
    """
    mc.Workspace(tmp_path / "ws").close()
    code = (
        "import json, sys, uvicorn\n"
        "import modelcycle as mc\n"
        "from modelcycle.serving import ServeSettings, create_app\n"
        "from modelcycle.serving._model import load_served\n"
        "from modelcycle.packaging import ModelPipeline\n"
        "from modelcycle.cli._serve import _with_dashboard\n"
        f"ws = mc.Workspace({str(tmp_path / 'ws')!r})\n"
        "app = _with_dashboard(create_app(ws.services, ServeSettings()), ws.services)\n"
        f"later = {LATER!r}\n"
        "print(json.dumps([m for m in later if m in sys.modules]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
