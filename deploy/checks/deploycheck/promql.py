"""PromQL of the dashboard and the alert rules, read with a real parser (promql-parser, the
Python binding of the Rust crate of the same name).

An expression becomes a `Usage`: the series selectors it contains (metric name and the labels
its matchers name) and the label names it groups or matches on (`by`, `without`, `on`,
`ignoring`, `group_left/right`), each with the selectors under that operator, so that a label
can be checked against the metrics it applies to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import promql_parser


class PromQLError(ValueError):
    """An expression that does not parse."""


@dataclass(frozen=True)
class Selector:
    """One series selector: `metric{label=...}`. `metric` is None when the name is a regex."""

    metric: str | None
    labels: frozenset[str]
    matchers: tuple[tuple[str, str, str], ...]  # (label, operator, value)


@dataclass
class Grouping:
    """Labels named by one aggregation or vector match, and the selectors it applies to."""

    labels: frozenset[str]
    selectors: list[Selector]
    clause: str  # "by", "without", "on", "ignoring", "group_left", ...


@dataclass
class Usage:
    """One expression and where it comes from."""

    where: str
    expr: str
    selectors: list[Selector] = field(default_factory=list)
    groupings: list[Grouping] = field(default_factory=list)


def _selectors_in(node) -> list[Selector]:
    found: list[Selector] = []

    def visit(n):
        if type(n).__name__ == "VectorSelector":
            found.append(_selector(n))

    promql_parser.walk(node, visit)
    return found


def _selector(node) -> Selector:
    matchers = list(node.matchers.matchers)
    for group in node.matchers.or_matchers or []:
        matchers.extend(group)
    triples = tuple((m.name, str(m.op).split(".")[-1], m.value) for m in matchers)
    name = node.name
    if name is None:
        exact = [value for label, op, value in triples if label == "__name__" and op == "Equal"]
        name = exact[0] if exact else None
    labels = frozenset(label for label, _, _ in triples if label != "__name__")
    return Selector(name, labels, triples)


def analyse(expr: str, where: str) -> Usage:
    """Parses `expr`; raises PromQLError naming `where` when it does not parse."""
    try:
        tree = promql_parser.parse(expr)
    except Exception as error:  # the binding raises plain ValueError/RuntimeError
        raise PromQLError(f"{where}: PromQL does not parse: {error}: {expr!r}") from error
    usage = Usage(where, expr)

    def visit(n):
        kind = type(n).__name__
        if kind == "VectorSelector":
            usage.selectors.append(_selector(n))
        elif kind == "AggregateExpr" and n.modifier is not None and n.modifier.labels:
            clause = "without" if str(n.modifier.type).endswith("Without") else "by"
            usage.groupings.append(Grouping(frozenset(n.modifier.labels), _selectors_in(n.expr), clause))
        elif kind == "BinaryExpr" and n.modifier is not None:
            under = _selectors_in(n.lhs) + _selectors_in(n.rhs)
            matching = n.modifier.matching
            if matching is not None and matching.labels:
                clause = "ignoring" if str(matching.type).endswith("Exclude") else "on"
                usage.groupings.append(Grouping(frozenset(matching.labels), under, clause))
            if n.modifier.group_labels:
                usage.groupings.append(Grouping(frozenset(n.modifier.group_labels), under, "group"))

    promql_parser.walk(tree, visit)
    return usage


# Grafana's built-in interval variables stand for durations; any other variable must be one of
# the dashboard's own and is replaced by a value that keeps the expression parseable where a
# label value is expected (the only place this dashboard uses variables).
_INTERVALS = re.compile(r"\$\{?(__rate_interval|__interval|__range)(_ms|_s)?\}?")
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def substitute_grafana(expr: str, variables: set[str], where: str) -> tuple[str, list[str]]:
    """Replaces Grafana variables in `expr`; returns the expression and a problem for each
    variable that the dashboard does not define."""
    problems = []
    expr = _INTERVALS.sub("5m", expr)

    def replace(match):
        name = match.group(1) or match.group(2) or match.group(3)
        if name not in variables:
            problems.append(f"{where}: uses ${name}, which the dashboard does not define")
        return ".*"

    return _VARIABLE.sub(replace, expr), problems


_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(?P<selector>.+?)\s*,\s*)?(?P<label>\w+)\s*\)\s*$", re.S)
_QUERY_RESULT = re.compile(r"^\s*query_result\((?P<expr>.+)\)\s*$", re.S)


def dashboard_usages(dashboard: dict, path: str) -> tuple[list[Usage], list[str]]:
    """Every PromQL expression of a Grafana dashboard (panel targets, rows included, and query
    variables) as Usages, and the problems found on the way (unparseable expressions,
    undefined variables, a panel without expression)."""
    usages: list[Usage] = []
    problems: list[str] = []
    variables = {v["name"] for v in dashboard.get("templating", {}).get("list", [])}

    def add(expr: str, where: str, extra_label: str | None = None):
        expr, unknown = substitute_grafana(expr, variables, where)
        problems.extend(unknown)
        try:
            usage = analyse(expr, where)
        except PromQLError as error:
            problems.append(str(error))
            return
        if extra_label:
            usage.groupings.append(Grouping(frozenset([extra_label]), list(usage.selectors), "label_values"))
        usages.append(usage)

    def panels(items):
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard.get("panels", [])):
        if panel.get("type") == "row":
            continue
        targets = panel.get("targets", [])
        if not targets:
            problems.append(f"{path}: panel {panel.get('title')!r} has no query")
        for target in targets:
            where = f"{path}: panel {panel.get('title')!r} query {target.get('refId')}"
            if not target.get("expr", "").strip():
                problems.append(f"{where}: empty expression")
                continue
            add(target["expr"], where)

    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        query = query.get("query", "") if isinstance(query, dict) else (query or "")
        where = f"{path}: variable ${variable['name']}"
        if m := _LABEL_VALUES.match(query):
            if m.group("selector"):
                add(m.group("selector"), where, extra_label=m.group("label"))
        elif m := _QUERY_RESULT.match(query):
            add(m.group("expr"), where)
        else:
            problems.append(f"{where}: query {query!r} is neither label_values(...) nor query_result(...)")
    return usages, problems


def rule_usages(prometheus_rule: dict, path: str) -> tuple[list[Usage], list[str]]:
    """The expressions of a PrometheusRule's rules (or of a plain rules file's groups)."""
    spec = prometheus_rule.get("spec", prometheus_rule)
    usages, problems = [], []
    for group in spec.get("groups") or []:
        for rule in group.get("rules") or []:
            name = rule.get("alert") or rule.get("record")
            where = f"{path}: group {group.get('name')!r} rule {name!r}"
            try:
                usages.append(analyse(str(rule.get("expr", "")), where))
            except PromQLError as error:
                problems.append(str(error))
    return usages, problems
