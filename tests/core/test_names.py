"""The one name rule (issue 11): models, aliases, users, experiments and artifact names.

Every kind refuses the same attacker's variants, at the rule and at every public edge
that takes such a name, with a message naming the kind, the value and the rule.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import modelcycle as mc
from modelcycle.core import (
    ALIAS,
    ARTIFACT_NAME,
    EXPERIMENT_NAME,
    MODEL_NAME,
    USER_NAME,
    ModelRef,
    NameRule,
    ValidationError,
)

RULES = [MODEL_NAME, ALIAS, USER_NAME, EXPERIMENT_NAME, ARTIFACT_NAME]

#: Refused by every kind of name: (value, what the message says is wrong).
HOSTILE = [
    ("champion\n", r"control character '\\n' \(U\+000A\) at position 9"),
    ("alice\x00", r"control character '\\x00' \(U\+0000\) at position 6"),
    ("a\rb", r"control character '\\r'"),
    ("a\tb", r"control character '\\t'"),
    ("a\u2028b", r"control character '\\u2028' \(U\+2028\)"),
    ("a\u2029b", r"control character '\\u2029'"),
    ("admin\u202e", r"control character '\\u202e' \(U\+202E\)"),
    ("a\u200bb", r"control character '\\u200b'"),  # zero-width space: invisible
    ("al\ud800ce", r"lone surrogate '\\ud800' \(U\+D800, not valid Unicode\)"),
    ("\u0430dmin", r"non-ASCII character 'а' \(U\+0430; names are ASCII\)"),  # Cyrillic а
    ("cafe\u0301", r"non-ASCII character"),  # a combining accent (NFD 'café')
    ("caf\u00e9", r"non-ASCII character 'é'"),
    ("\uff41dmin", r"non-ASCII character"),  # fullwidth 'a' (NFKC would make it 'admin')
    ("..", r"'\.\.'|the character '\.'|does not follow the rule"),
    (".", r"'\.'|does not follow the rule"),
    ("a/../b", r"'\.\.' part|the character '/'"),
    ("/etc/passwd", r"empty part|the character '/'"),
    ("a\\b", r"the character '\\\\'"),
    ("C:\\x", r"the character"),
    ("", r"it is empty"),
    ("x" * 10_000, r"10,000 characters long"),
    (None, r"expected a string, got NoneType"),
    (42, r"expected a string, got int"),
    (b"churn", r"expected a string, got bytes"),
]


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.kind)
@pytest.mark.parametrize(("value", "reason"), HOSTILE, ids=repr)
def test_every_kind_refuses_the_hostile_variants(rule: NameRule, value: Any, reason: str) -> None:
    assert not rule.is_valid(value)
    with pytest.raises(ValidationError, match=reason) as caught:
        rule.check(value)
    message = str(caught.value)
    assert message.startswith(f"{rule.kind} ")  # the kind
    assert f"; expected {rule.expected}" in message  # the rule
    assert "\n" not in message and "\u202e" not in message and "\u2028" not in message
    message.encode("utf-8")  # a lone surrogate is shown escaped, so the message encodes
    assert len(message) < 1000  # a 10,000-character name is shortened
    assert caught.value.details["kind"] == rule.kind


@pytest.mark.parametrize(
    ("rule", "value"),
    [
        (MODEL_NAME, "churn"),
        (MODEL_NAME, "risk.v2_b-3"),
        (MODEL_NAME, "x" * 100),
        (ALIAS, "champion"),
        (ALIAS, "shadow-2"),
        (USER_NAME, "alice"),
        (USER_NAME, "ops.bot@example.com"),
        (EXPERIMENT_NAME, "churn"),
        (EXPERIMENT_NAME, "team/churn: weekly 2"),
        (EXPERIMENT_NAME, "default"),
        (ARTIFACT_NAME, "model/model.txt"),
        (ARTIFACT_NAME, "evaluation/report (1).html"),
        (ARTIFACT_NAME, ".hidden/a..b/c"),
    ],
)
def test_good_names_pass(rule: NameRule, value: str) -> None:
    assert rule.check(value) == value


@pytest.mark.parametrize(
    ("rule", "value", "reason"),
    [
        (MODEL_NAME, "1bad", "does not follow the rule"),
        (MODEL_NAME, "x" * 101, "101 characters long, more than 100"),
        (MODEL_NAME, "a b", "the character ' ' at position 2"),
        (MODEL_NAME, "churn@champion", "the character '@'"),
        (ALIAS, "cham.pion", "the character '.'"),
        (USER_NAME, " bad", "the character ' '"),
        (EXPERIMENT_NAME, " churn", "starts or ends with a space"),
        (EXPERIMENT_NAME, "team//churn", "empty part"),
        (EXPERIMENT_NAME, "team/", "empty part"),
        (EXPERIMENT_NAME, "./churn", "'.' part"),
        (ARTIFACT_NAME, "model/", "empty part"),
        (ARTIFACT_NAME, "model//x", "empty part"),
        (ARTIFACT_NAME, "model/../../etc", "'..' part"),
        (ARTIFACT_NAME, "model/ x", "starts or ends with a space"),
        (ARTIFACT_NAME, "a" * 1001, "1,001 characters long"),
    ],
)
def test_kind_specific_refusals(rule: NameRule, value: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        rule.check(value)


@given(st.text(max_size=30))
def test_a_valid_name_is_always_plain_ascii_without_dot_parts(value: str) -> None:
    for rule in RULES:
        if rule.is_valid(value):
            assert value.isascii() and value.isprintable() and value == value.strip()
            assert not {".", "..", ""} & set(value.split("/"))
            assert not value.startswith("/") and "\\" not in value


def test_the_model_pattern_is_the_rule() -> None:
    from modelcycle.registry import MODEL_NAME_PATTERN, check_model_name

    assert MODEL_NAME_PATTERN == MODEL_NAME.pattern == r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$"
    with pytest.raises(ValidationError, match="model name 'churn\\\\n'"):
        check_model_name("churn\n")


@pytest.mark.parametrize(
    "text",
    [
        "churn\n@champion",
        "churn@champion\n",
        " churn",
        "churn@champion\u202e",
        "churn@cham\x00pion",
        "ch\u0430rn",
        "churn/1" + "0" * 12,
    ],
)
def test_model_references_follow_the_rule(text: str) -> None:
    with pytest.raises(ValidationError, match="model reference"):
        ModelRef.parse(text)


# -- every public edge that takes a name -------------------------------------------------


@pytest.fixture
def ws(tmp_path: Path) -> Any:
    with mc.Workspace(tmp_path / "ws") as workspace:
        yield workspace


def _edges(ws: mc.Workspace, tmp_path: Path) -> dict[str, Callable[[str], object]]:
    with ws.start_run(experiment="edges") as run:
        run.log_text("w", "model/weights.txt")
    (tmp_path / "file.txt").write_text("x")
    active = ws.start_run(experiment="edges")
    return {
        "model name": lambda name: ws.registry.register(run, name),
        "alias": lambda name: ws.registry.promote("churn", 1, name),
        "user name": lambda name: ws.security.create_user(name),
        "experiment name": lambda name: ws.start_run(experiment=name),
        "artifact name": lambda name: active.log_text("x", name),
        "artifact name (file)": lambda name: active.log_artifact(tmp_path / "file.txt", name),
    }


@pytest.mark.parametrize(
    "value",
    ["champion\n", "alice\n", "a\x00", "a\r", "a\t", "a\u2028", "a\u202e", "a\ud800", "..",
     ".", "a/../b", "/abs", "a\\b", "x" * 10_000, ""],
    ids=repr,
)  # fmt: skip
def test_every_edge_refuses_bad_names(ws: mc.Workspace, tmp_path: Path, value: str) -> None:
    edges = _edges(ws, tmp_path)
    for edge, call in edges.items():
        kind = edge.split(" (")[0]
        with pytest.raises(ValidationError, match=f"^{kind} ") as caught:
            call(value)
        assert "is not valid" in str(caught.value), edge
    assert [m["name"] for m in ws.registry.models()] == []
    assert [u.name for u in ws.security.users()] == []
    assert {e["name"] for e in ws.experiments()} == {"edges"}
    paths = [a["path"] for run in ws.runs("edges") for a in run.artifacts]
    assert paths == ["model/weights.txt"]


def test_grants_and_keys_take_model_names_by_the_rule(ws: mc.Workspace) -> None:
    ws.security.create_user("alice")
    for model in ("churn\n", "../churn", "ch\u0430rn"):
        with pytest.raises(ValidationError, match=r"^model name "):
            ws.security.grant("alice", "predictor", model=model)
        with pytest.raises(ValidationError, match=r"^model name "):
            ws.security.create_key("alice", "predictor", model=model)
    assert ws.security.user("alice").grants == ()


def test_a_folder_with_a_badly_named_file_stores_nothing(ws: mc.Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "package"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    (folder / "b\u202etxt.exe").write_text("b")
    run = ws.start_run()
    with pytest.raises(ValidationError, match=r"artifact name 'package/b\\u202etxt\.exe'"):
        run.log_artifact(folder)
    run.end()
    assert ws.get_run(run.run_id).artifacts == []
