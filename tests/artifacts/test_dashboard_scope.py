"""Every series selector of every dashboard query is scoped to one exporter: `job` and `instance` matchers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dashboards import generate, panels

promql = pytest.importorskip("promql_parser", reason="promql-parser is in the test extra")

SCOPE = {("job", "$job"), ("instance", "$instance")}


def selectors(node: Any) -> Iterator[Any]:
    """Every VectorSelector in a parsed PromQL expression (inside ranges, calls, aggregations, operators)."""
    if isinstance(node, promql.VectorSelector):
        yield node
    elif isinstance(node, promql.MatrixSelector):
        yield node.vector_selector
    elif isinstance(node, promql.Call):
        for arg in node.args:
            yield from selectors(arg)
    elif isinstance(node, promql.AggregateExpr):
        yield from selectors(node.expr)
        if node.param is not None:
            yield from selectors(node.param)
    elif isinstance(node, promql.BinaryExpr):
        yield from selectors(node.lhs)
        yield from selectors(node.rhs)
    elif isinstance(node, (promql.ParenExpr, promql.UnaryExpr, promql.SubqueryExpr)):
        yield from selectors(node.expr)


def unscoped(expr: str) -> list[str]:
    """The selectors of `expr` that lack a `job=~"$job"` or `instance=~"$instance"` matcher."""
    # $__rate_interval is not PromQL; $job and $instance become themselves, inside their strings.
    parsed = promql.parse(generate.substitute(expr, {"job": "$job", "instance": "$instance"} | SAMPLE))
    found = []
    for selector in selectors(parsed):
        matchers = {(m.name, m.value) for m in selector.matchers.matchers if m.op == promql.MatchOp.Re}
        if not matchers >= SCOPE:
            found.append(str(selector))
    return found


SAMPLE = {"organization": "Contoso", "customer_id": "abc", "datasource": "prometheus"}


def queries() -> list[tuple[str, str, str]]:
    return [(n, t, e) for n, d in generate.build().items() for t, e in generate.panel_queries(d)]


@pytest.mark.parametrize("name", sorted(generate.build()))
def test_every_dashboard_has_job_and_instance_variables(name: str) -> None:
    names = [v["name"] for v in generate.build()[name]["templating"]["list"]]
    assert names[:3] == ["datasource", "job", "instance"], names


def test_every_selector_of_every_query_is_scoped_to_one_exporter() -> None:
    checked = 0
    for name, title, expr in queries():
        assert unscoped(expr) == [], (name, title, expr)
        checked += 1
    assert checked >= 40


def test_every_variable_query_below_the_scope_is_scoped() -> None:
    for d in generate.build().values():
        for variable in d["templating"]["list"][3:]:
            assert 'job=~"$job"' in variable["definition"] and 'instance=~"$instance"' in variable["definition"]


def test_an_unscoped_selector_is_found() -> None:
    assert unscoped('sum by (le) (rate(x{job=~"$job"}[$__rate_interval])) or up') == [
        'x{job=~"$job"}',
        "up{}",
    ]
    assert unscoped(panels.scoped('count(a{x="y"}) or time() - b offset 1h > 1.5 * max by (c) (d)')) == []


def test_scoped_leaves_functions_aggregations_keywords_and_strings_alone() -> None:
    expr = 'sum by (le) (rate(b{l="or x"}[5m])) unless on(k) topk(5, c) > bool 1e3'
    assert panels.scoped(expr, ('j="1"',)) == (
        'sum by (le) (rate(b{l="or x", j="1"}[5m])) unless on(k) topk(5, c{j="1"}) > bool 1e3'
    )
    assert panels.scoped('a{job="x"}', ('job=~"$job"', 'i="2"')) == 'a{job="x", i="2"}'
