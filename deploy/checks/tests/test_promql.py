"""The PromQL reading itself: selectors, labels and grouping clauses come out as they should."""

import pytest

from deploycheck import promql


def test_selectors_and_matchers():
    usage = promql.analyse('sum(rate(a_total{x="1", y=~"2|3"}[5m])) / on(instance) group_left(z) b', "t")
    by_metric = {s.metric: s for s in usage.selectors}
    assert set(by_metric) == {"a_total", "b"}
    assert by_metric["a_total"].labels == {"x", "y"}
    assert by_metric["a_total"].matchers == (("x", "Equal", "1"), ("y", "Re", "2|3"))


def test_name_matcher_is_the_metric():
    usage = promql.analyse('{__name__="hookflow_sync_inflight", job="j"}', "t")
    assert [(s.metric, s.labels) for s in usage.selectors] == [("hookflow_sync_inflight", frozenset({"job"}))]


def test_regex_name_is_unknown():
    usage = promql.analyse('{__name__=~"hookflow_.*"}', "t")
    assert usage.selectors[0].metric is None


def test_groupings_carry_their_selectors():
    usage = promql.analyse(
        "histogram_quantile(0.9, sum by (le, mode) (rate(h_bucket[5m]))) > on(job) group_left(dependency) d",
        "t",
    )
    clauses = {g.clause: (g.labels, sorted(s.metric for s in g.selectors)) for g in usage.groupings}
    assert clauses["by"] == (frozenset({"le", "mode"}), ["h_bucket"])
    assert clauses["on"] == (frozenset({"job"}), ["d", "h_bucket"])
    assert clauses["group"] == (frozenset({"dependency"}), ["d", "h_bucket"])


def test_without_and_ignoring():
    usage = promql.analyse("sum without (code) (a) + ignoring(mode) b", "t")
    assert {g.clause for g in usage.groupings} == {"without", "ignoring"}


def test_subqueries_offsets_and_functions():
    usage = promql.analyse(
        "max_over_time(deriv(q{queue=~'.+'}[10m])[1h:5m] offset 1h) and absent(up{job='w'} == 1)", "t"
    )
    assert sorted(s.metric for s in usage.selectors) == ["q", "up"]


def test_broken_expression_names_where():
    with pytest.raises(promql.PromQLError, match="panel X"):
        promql.analyse("sum(rate(a[5m])", "panel X")


def test_grafana_variables():
    expr, problems = promql.substitute_grafana(
        'rate(a{w=~"$workflow", i=~"${instance:regex}"}[$__rate_interval])', {"workflow", "instance"}, "t"
    )
    assert expr == 'rate(a{w=~".*", i=~".*"}[5m])' and problems == []
    _, problems = promql.substitute_grafana('a{w=~"$nope"}', {"workflow"}, "panel")
    assert problems == ["panel: uses $nope, which the dashboard does not define"]


def test_dashboard_variables_and_nested_rows():
    dashboard = {
        "templating": {
            "list": [{"name": "w", "type": "query", "query": {"query": "label_values(m{job='x'}, workflow)"}}]
        },
        "panels": [
            {
                "type": "row",
                "title": "r",
                "panels": [{"title": "p", "targets": [{"refId": "A", "expr": "n"}]}],
            }
        ],
    }
    usages, problems = promql.dashboard_usages(dashboard, "d.json")
    assert problems == []
    assert sorted(s.metric for u in usages for s in u.selectors) == ["m", "n"]
    label_values = [g for u in usages for g in u.groupings if g.clause == "label_values"]
    assert label_values[0].labels == {"workflow"}
