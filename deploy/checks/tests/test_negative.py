"""Broken copies of the deployment files: each check must report the fault, naming it."""

import copy

import yaml

from deploycheck import REPO, compose, crds, dockerfile, kube, metrics, promql, rules


def base_copy(rendered):
    return copy.deepcopy(rendered["base"])


def only(objects, kind, name):
    return kube.find(objects, kind, name)[0]


def assert_reported(problems, *fragments):
    text = "\n".join(problems)
    for fragment in fragments:
        assert fragment in text, f"expected a problem mentioning {fragment!r}, got:\n{text or '(none)'}"


def test_service_target_port_name_that_no_container_has(rendered):
    objects = base_copy(rendered)
    only(objects, "Service", "hookflow-worker")["spec"]["ports"][0]["targetPort"] = "metrix"
    assert_reported(kube.service_problems(objects, "t"), "Service/hookflow-worker", "'metrix'")


def test_service_monitor_port_that_the_service_lacks(rendered):
    objects = base_copy(rendered)
    only(objects, "ServiceMonitor", "hookflow-ingress")["spec"]["endpoints"][0]["port"] = "web"
    assert_reported(crds.service_monitor_problems(objects, "t"), "ServiceMonitor/hookflow-ingress", "'web'")


def test_service_monitor_selecting_nothing(rendered):
    objects = base_copy(rendered)
    only(objects, "ServiceMonitor", "hookflow-worker")["spec"]["selector"]["matchLabels"][
        "app.kubernetes.io/component"
    ] = "workers"
    assert_reported(
        crds.service_monitor_problems(objects, "t"),
        "matches no Service",
        "Service/hookflow-worker is scraped by no ServiceMonitor",
    )


def test_insecure_and_hasty_deployment(rendered):
    objects = base_copy(rendered)
    dep = only(objects, "Deployment", "hookflow-ingress")
    pod = dep["spec"]["template"]["spec"]
    pod["terminationGracePeriodSeconds"] = 40  # 30 s + 5 s of drain + 5 s of pause: too short
    container = pod["containers"][0]
    del container["securityContext"]["readOnlyRootFilesystem"]
    container["securityContext"]["capabilities"]["drop"] = []
    container["readinessProbe"]["httpGet"]["port"] = "http"
    assert_reported(
        kube.deployment_problems(objects, "t"),
        "readOnlyRootFilesystem is None",
        "does not drop ALL",
        "readinessProbe port 'http'",
        "terminationGracePeriodSeconds 40 does not exceed",
    )


def test_pre_stop_that_needs_a_shell(rendered):
    objects = base_copy(rendered)
    container = only(objects, "Deployment", "hookflow-ingress")["spec"]["template"]["spec"]["containers"][0]
    container["lifecycle"]["preStop"] = {"exec": {"command": ["sleep", "5"]}}
    assert_reported(kube.deployment_problems(objects, "t"), "preStop exec cannot run", "no preStop sleep")


def test_selector_and_secret_key_mismatch(rendered):
    objects = base_copy(rendered)
    dep = only(objects, "Deployment", "hookflow-worker")
    dep["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] = "ingress"
    dep["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]["key"] = "AMQP"
    assert_reported(
        kube.deployment_problems(objects, "t"), "does not match its pod labels", "reads key 'AMQP'"
    )


def test_schema_catches_unknown_fields(rendered):
    objects = base_copy(rendered)
    only(objects, "Deployment", "hookflow-worker")["spec"]["template"]["spec"]["containers"][0][
        "livenesProbe"
    ] = {}
    problems, _ = kube.schema_problems(objects, "t", ["1.30.0"])
    assert_reported(problems, "Deployment/hookflow-worker", "livenesProbe")


def test_scaled_object_aimed_wrong_and_misspelt(rendered):
    objects = base_copy(rendered)
    so = only(objects, "ScaledObject", "hookflow-worker")
    so["spec"]["scaleTargetRef"]["name"] = "hookflow-ingress"
    so["spec"]["minReplicasCount"] = 3
    so["spec"]["triggers"][1]["metadata"]["queueName"] = "hookflow.executions.asnyc"
    assert_reported(
        crds.keda_problems(objects, "t"),
        "is not the worker Deployment",
        "no rabbitmq trigger on queue hookflow.executions.async",
        "'hookflow.executions.asnyc'",
    )
    assert_reported(crds.model_problems(objects, "t")[0], "/spec/minReplicasCount is not in its CRD")


def test_trigger_authentication_secret_key_missing(rendered):
    objects = base_copy(rendered)
    only(objects, "TriggerAuthentication", "hookflow-rabbitmq")["spec"]["secretTargetRef"][0]["key"] = (
        "AMQP_URL"
    )
    assert_reported(crds.keda_problems(objects, "t"), "has no key 'AMQP_URL'")


def test_dashboard_with_unknown_metric_and_label(metrics_dumps):
    catalog, _ = metrics.load(metrics_dumps)
    dashboard = {
        "templating": {"list": []},
        "panels": [
            {
                "title": "Bad",
                "targets": [
                    {"refId": "A", "expr": "rate(hookflow_webhook_calls_total[5m])"},
                    {
                        "refId": "B",
                        "expr": 'sum by (status) (rate(hookflow_webhook_requests_total{route="x"}[5m]))',
                    },
                ],
            }
        ],
    }
    usages, problems = promql.dashboard_usages(dashboard, "bad.json")
    assert problems == []
    assert_reported(
        metrics.usage_problems(usages, catalog),
        "metric hookflow_webhook_calls_total is not exposed",
        "has no label 'route'",
        "`by` names label 'status'",
    )


def test_metric_missing_from_a_real_dump(tmp_path, prometheus_rule):
    dump = tmp_path / "metrics.txt"
    dump.write_text("# TYPE hookflow_sync_inflight gauge\nhookflow_sync_inflight 0\n")
    catalog, problems = metrics.load([dump])
    assert problems == []
    usages, _ = promql.rule_usages(prometheus_rule, "rules")
    assert_reported(metrics.usage_problems(usages, catalog), "hookflow_dependency_up is not exposed")


def test_metric_declared_without_samples_cannot_vouch_for_labels(tmp_path):
    dump = tmp_path / "metrics.txt"
    dump.write_text("# TYPE hookflow_webhook_duplicates_total counter\n# TYPE up gauge\nup 1\n")
    catalog, _ = metrics.load([dump])
    usage = promql.analyse(
        'sum by (workflow) (rate(hookflow_webhook_duplicates_total{workflow="a"}[5m]))', "p"
    )
    assert_reported(metrics.usage_problems([usage], catalog), "has no samples in the dumps")


def test_unreadable_dump(tmp_path):
    _, problems = metrics.load([tmp_path / "absent.txt"])
    assert_reported(problems, "absent.txt", "cannot read")


def test_broken_alert_rule(tmp_path, prometheus_rule):
    broken = copy.deepcopy(prometheus_rule)
    broken["spec"]["groups"][0]["rules"][0]["expr"] = "sum(rate(hookflow_webhook_requests_total[5m]) >"
    source = tmp_path / "prometheusrule.yaml"
    source.write_text(yaml.safe_dump(broken, sort_keys=False, indent=2))
    out = tmp_path / "rules.yml"
    assert rules.extract(REPO, out, source) == []
    problems, _ = rules.check_rules(out)
    assert_reported(problems, "promtool check rules failed")
    assert_reported(crds.prometheus_rule_problems([broken], "t"), "PromQL does not parse")


def test_rule_unit_test_that_expects_the_wrong_alert(tmp_path, rules_file):
    tests = yaml.safe_load((REPO / rules.RULES_TEST).read_text())
    tests["tests"][0]["alert_rule_test"][1]["exp_alerts"][0]["exp_labels"]["dependency"] = "database"
    wrong = tmp_path / "wrong-test.yml"
    wrong.write_text(yaml.safe_dump(tests, sort_keys=False))
    work = tmp_path / "work"
    work.mkdir()
    problems, _ = rules.run_rule_tests(REPO, rules_file, work, tests=wrong)
    assert_reported(problems, "promtool test rules failed", "HookflowDependencyDown")


def test_rules_file_whose_spec_is_not_last(tmp_path):
    source = tmp_path / "prometheusrule.yaml"
    text = (REPO / rules.PROMETHEUS_RULE).read_text()
    source.write_text(text.replace("spec:\n", "spec:\n  extra: 1\n", 1) + "status: {}\n")
    assert_reported(
        rules.extract(REPO, tmp_path / "out.yml", source), "differs from the PrometheusRule's spec"
    )


def test_compose_dependency_without_health_check(compose_model):
    model = copy.deepcopy(compose_model)
    del model["services"]["redis"]["healthcheck"]
    model["services"]["worker"]["depends_on"]["postgres"]["condition"] = "service_started"
    model["services"]["grafana"]["volumes"][0]["source"] = str(REPO / "deploy/grafana/provisionin")
    assert_reported(
        compose.service_problems(model),
        "service redis: no health check",
        "depends_on redis, which has no health check",
        "condition 'service_started'",
        "provisionin, which does not exist",
    )


def test_compose_settings_that_disagree(compose_model):
    model = copy.deepcopy(compose_model)
    model["services"]["worker"]["environment"]["HOOKFLOW_INTERNAL_KEY"] = (
        "another-key-of-at-least-32-characters!!"
    )
    model["services"]["ingress"]["environment"]["HOOKFLOW_DATABASE_URL"] = (
        "postgres://hookflow:wrong@postgres:5432/hookflow"
    )
    model["services"]["ingress"]["stop_grace_period"] = "10s"
    assert_reported(
        compose.hookflow_problems(model),
        "different HOOKFLOW_INTERNAL_KEY",
        "credentials differ",
        "stop_grace_period 10s",
    )


def test_compose_file_that_compose_rejects(tmp_path):
    (tmp_path / "docker-compose.yml").write_text("services:\n  a:\n    image: x:1\n    depends_on: [b]\n")
    _, problems = compose.load(tmp_path)
    assert_reported(problems, "docker-compose.yml", "failed")


def test_prometheus_scraping_the_wrong_port(compose_model):
    config = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    config["scrape_configs"][0]["static_configs"][0]["targets"] = ["ingress:13000"]
    config["rule_files"] = ["/etc/prometheus/rules.yml"]
    assert_reported(
        compose.scrape_problems(compose_model, config, "/prometheus/hookflow.rules.yml"),
        "does not scrape ingress:9464",
        "does not load /prometheus/hookflow.rules.yml",
    )


def test_dockerfile_copy_of_missing_or_ignored_source():
    text = (REPO / dockerfile.DOCKERFILE).read_text()
    text = text.replace("COPY bench bench", "COPY benches benches", 1).replace(
        "COPY tests tests", "COPY docs docs", 1
    )
    assert_reported(
        dockerfile.problems(REPO, text=text),
        "'benches' does not exist",
        "'docs' is excluded by .dockerignore",
        "does not copy tests/Cargo.toml",
    )


def test_dockerfile_root_user_and_wrong_package():
    text = (REPO / dockerfile.DOCKERFILE).read_text()
    text = text.replace("USER 65532:65532", "USER root").replace("-p hookflow-worker", "-p worker")
    assert_reported(
        dockerfile.problems(REPO, text=text),
        "does not switch to a non-root USER",
        "does not build package hookflow-worker",
    )


def test_dockerignore_that_drops_a_member():
    ignore = (REPO / ".dockerignore").read_text() + "\nshared\n"
    assert_reported(dockerfile.problems(REPO, ignore_text=ignore), "'shared' is excluded by .dockerignore")


def test_hadolint_reports_findings(tmp_path, monkeypatch):
    bad = tmp_path / "deploy"
    bad.mkdir()
    (bad / "Dockerfile").write_text("FROM debian\nRUN apt-get update && apt-get install -y curl\n")
    problems = dockerfile.hadolint_problems(tmp_path)
    assert_reported(problems, "deploy/Dockerfile:1: hadolint DL3006", "DL3008")
