"""The filter language's quoted keys and limits, at the parser (the contract runs them on SQL)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelcycle.core import ValidationError
from modelcycle.tracking import MAX_FILTER_DEPTH, MAX_FILTER_LENGTH, MAX_FILTER_TERMS
from modelcycle.tracking._filter import Field, parse_filter, parse_order_by


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("metrics.`val loss` < 0.3", Field("metric", "val loss")),
        ('metrics."val loss" < 0.3', Field("metric", "val loss")),
        ("metrics.'val loss' < 0.3", Field("metric", "val loss")),
        ("metrics.`a``b` < 1", Field("metric", "a`b")),
        ("metrics.`a\\`b` < 1", Field("metric", "a`b")),
        ('params."say ""hi""" = \'x\'', Field("param", 'say "hi"')),
        ('params."say \\"hi\\"" = \'x\'', Field("param", 'say "hi"')),
        ("params.'it''s' = 'x'", Field("param", "it's")),
        ("tags.`a.b` = 'x'", Field("tag", "a.b")),
        ("tags.a.b = 'x'", Field("tag", "a.b")),
        ("metrics.`a\\\\` < 1", Field("metric", "a\\")),
        ("METRICS.`x` < 1", Field("metric", "x")),
    ],
)
def test_quoted_keys(text: str, field: Field) -> None:
    assert parse_filter(text).field == field


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20))
def test_any_key_round_trips_through_backticks(key: str) -> None:
    quoted = "`" + key.replace("\\", "\\\\").replace("`", "``") + "`"
    try:
        node = parse_filter(f"metrics.{quoted} > 0")
    except ValidationError:
        assert "\n" in key or "\r" in key or any(not c.isprintable() for c in key)
        return
    assert node.field == Field("metric", key)


def test_order_by_takes_quoted_keys() -> None:
    assert len(parse_order_by(["metrics.`val loss` DESC", 'params."learning rate"'])) == 3


def test_limits_are_exact() -> None:
    at_depth = "not " * MAX_FILTER_DEPTH + "metrics.a > 0"
    assert parse_filter(at_depth).kind == "not"
    with pytest.raises(ValidationError, match=f"more than {MAX_FILTER_DEPTH} deep"):
        parse_filter("not " + at_depth)
    terms = " or ".join(["metrics.a>0"] * MAX_FILTER_TERMS)
    assert len(parse_filter(terms).children) == MAX_FILTER_TERMS
    with pytest.raises(ValidationError, match=f"more than {MAX_FILTER_TERMS} comparisons"):
        parse_filter(terms + " or metrics.a>0")
    longest = "metrics.a > 0 " + " " * (MAX_FILTER_LENGTH - 14)
    assert len(longest) == MAX_FILTER_LENGTH and parse_filter(longest).kind == "compare"
    with pytest.raises(ValidationError, match="4,097 characters long") as caught:
        parse_filter(longest + " ")
    assert caught.value.details["position"] == MAX_FILTER_LENGTH + 1


def test_a_long_order_by_clause_is_refused_too() -> None:
    with pytest.raises(ValidationError, match="order_by"):
        parse_order_by("metrics." + "a" * 5000)
