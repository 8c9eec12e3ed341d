"""The alert rules as Prometheus loads them: the compose extraction of the PrometheusRule,
`promtool check rules`, the rule unit tests, and the compose Prometheus configuration."""

import yaml

from conftest import FIGURES
from deploycheck import REPO, compose, rules


def fail_on(problems):
    assert not problems, "\n" + "\n".join(problems)


def test_extracted_rules_are_the_prometheus_rule_spec(rules_file, prometheus_rule):
    assert yaml.safe_load(rules_file.read_text()) == prometheus_rule["spec"]


def test_promtool_check_rules(rules_file):
    problems, counted = rules.check_rules(rules_file)
    FIGURES["alert rules checked by promtool check rules"] = counted
    fail_on(problems)
    fail_on([] if counted else [f"{rules.PROMETHEUS_RULE}: promtool found no rules"])


def test_promtool_rule_unit_tests(rules_file, tmp_path):
    problems, _ = rules.run_rule_tests(REPO, rules_file, tmp_path)
    tests = yaml.safe_load((REPO / rules.RULES_TEST).read_text())["tests"]
    FIGURES["alert expectations in the promtool rule unit tests"] = sum(
        len(t.get("alert_rule_test") or []) for t in tests
    )
    fail_on(problems)


def test_every_alert_has_a_unit_test(prometheus_rule):
    tests = yaml.safe_load((REPO / rules.RULES_TEST).read_text())["tests"]
    tested = {case["alertname"] for t in tests for case in t.get("alert_rule_test") or []}
    alerts = {r["alert"] for g in prometheus_rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    fail_on([f"{rules.RULES_TEST}: alert {a} is never tested" for a in sorted(alerts - tested)])


def test_promtool_check_compose_config(compose_model, rules_file, tmp_path):
    files, problems = compose.prometheus_files(compose_model)
    fail_on(problems)
    fail_on(rules.check_config(REPO, rules_file, tmp_path, files["rules_in_container"]))
