"""Every metric and label that the dashboard and the alert rules use is in real /metrics output
(the dumps given with --metrics), and every `job` they name is one Prometheus scrapes."""

import json
import re

import pytest
import yaml

from conftest import FIGURES
from deploycheck import REPO, kube, metrics, promql

DASHBOARD = "deploy/grafana/hookflow.json"
# Metrics the dashboard must show (with the panels they belong to).
DASHBOARD_METRICS = {
    "hookflow_webhook_requests_total",
    "hookflow_webhook_request_duration_seconds_bucket",
    "hookflow_sync_inflight",
    "hookflow_sync_timeouts_total",
    "hookflow_queue_messages",
    "hookflow_executions_total",
    "hookflow_node_duration_seconds_bucket",
    "hookflow_executions_dead_lettered_total",
    "hookflow_dependency_up",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "hookflow_webhook_duplicates_total",
}


def fail_on(problems):
    assert not problems, "\n" + "\n".join(problems)


@pytest.fixture(scope="module")
def catalog(metrics_dumps):
    loaded, problems = metrics.load(metrics_dumps)
    fail_on(problems)
    FIGURES["/metrics dumps read"] = len(metrics_dumps)
    return loaded


@pytest.fixture(scope="module")
def dashboard():
    return json.loads((REPO / DASHBOARD).read_text())


@pytest.fixture(scope="module")
def dashboard_usages(dashboard):
    usages, problems = promql.dashboard_usages(dashboard, DASHBOARD)
    fail_on(problems)
    return usages


@pytest.fixture(scope="module")
def rule_usages(prometheus_rule):
    usages, problems = promql.rule_usages(prometheus_rule, "deploy/k8s/base/prometheusrule.yaml")
    fail_on(problems)
    return usages


def test_dashboard_metrics_are_exposed(dashboard_usages, catalog):
    FIGURES["dashboard PromQL expressions checked against the dumps"] = len(dashboard_usages)
    fail_on(metrics.usage_problems(dashboard_usages, catalog))


def test_rule_metrics_are_exposed(rule_usages, catalog):
    FIGURES["alert rule expressions checked against the dumps"] = len(rule_usages)
    fail_on(metrics.usage_problems(rule_usages, catalog))


def test_dashboard_shape(dashboard, dashboard_usages):
    problems = []
    if dashboard.get("schemaVersion", 0) < 38:
        problems.append(f"{DASHBOARD}: schemaVersion {dashboard.get('schemaVersion')} below 38")
    variables = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    if variables.get("datasource", {}).get("type") != "datasource":
        problems.append(f"{DASHBOARD}: no `datasource` variable of type datasource")
    for name in ("workflow", "instance"):
        if name not in variables:
            problems.append(f"{DASHBOARD}: no ${name} variable")
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            continue
        sources = [panel.get("datasource")] + [t.get("datasource") for t in panel.get("targets", [])]
        if any((s or {}).get("uid") != "${datasource}" for s in sources):
            problems.append(
                f"{DASHBOARD}: panel {panel.get('title')!r} does not use the ${{datasource}} variable"
            )
    used = {s.metric for u in dashboard_usages for s in u.selectors}
    problems += [f"{DASHBOARD}: no panel shows {m}" for m in sorted(DASHBOARD_METRICS - used)]
    quantiles = [
        u
        for u in dashboard_usages
        if "histogram_quantile" in u.expr
        and any(s.metric == "hookflow_webhook_request_duration_seconds_bucket" for s in u.selectors)
        and any("mode" in g.labels for g in u.groupings)
    ]
    if not quantiles:
        problems.append(f"{DASHBOARD}: no webhook latency quantiles by mode")
    fail_on(problems)


def test_jobs_named_are_scraped(dashboard_usages, rule_usages, rendered):
    """A `job` matcher must select jobs that exist under both compose's Prometheus and the
    Prometheus Operator (which names a ServiceMonitor's job after the Service)."""
    compose_jobs = {
        j["job_name"]
        for j in yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())["scrape_configs"]
    }
    problems = []
    for name, objects in rendered.items():
        k8s_jobs = {s["metadata"]["name"] for s in kube.find(objects, "Service")}
        for usage in dashboard_usages + rule_usages:
            for selector in usage.selectors:
                for label, op, value in selector.matchers:
                    if label != "job":
                        continue
                    for jobs, where in ((compose_jobs, "compose"), (k8s_jobs, f"Kubernetes {name}")):
                        hits = {j for j in jobs if (re.fullmatch(value, j) if op in ("Re",) else j == value)}
                        if op in ("Equal", "Re") and not hits:
                            problems.append(
                                f"{usage.where}: job {op} {value!r} selects no {where} job ({sorted(jobs)})"
                            )
    fail_on(problems)
