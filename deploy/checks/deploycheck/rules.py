"""The alert rules as Prometheus loads them.

deploy/k8s/base/prometheusrule.yaml is their only copy. Compose's Prometheus gets them through
deploy/prometheus/entrypoint.sh, which writes the PrometheusRule's spec out as a rules file; this
module runs that same script, checks that the result is exactly the spec, and gives it to
promtool: `check rules` (syntax, templates), `test rules` (deploy/prometheus/rules-test.yml) and
`check config` (the compose prometheus.yml, pointed at the extracted file).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from . import tools

PROMETHEUS_RULE = "deploy/k8s/base/prometheusrule.yaml"
ENTRYPOINT = "deploy/prometheus/entrypoint.sh"
RULES_TEST = "deploy/prometheus/rules-test.yml"
PROMETHEUS_CONFIG = "deploy/prometheus/prometheus.yml"


def extract(repo: Path, out: Path, source: Path | None = None) -> list[str]:
    """Runs entrypoint.sh (without starting Prometheus) to write the rules file `out`."""
    source = source or repo / PROMETHEUS_RULE
    done = subprocess.run(
        ["sh", str(repo / ENTRYPOINT), str(source), str(out)], capture_output=True, text=True
    )
    if done.returncode != 0:
        return [f"{ENTRYPOINT}: failed on {source}: {done.stderr.strip()}"]
    expected = (yaml.safe_load(source.read_text()) or {}).get("spec")
    if yaml.safe_load(out.read_text()) != expected:
        return [
            f"{ENTRYPOINT}: the rules file it writes from {source} differs from the PrometheusRule's spec "
            "(`spec:` must be the last top-level key, indented by two spaces)"
        ]
    return []


def check_rules(rules_file: Path) -> tuple[list[str], int]:
    """`promtool check rules`; returns problems and the number of rules promtool counted."""
    status, out, err = tools.run("promtool", "check", "rules", str(rules_file))
    counted = sum(int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", out))
    if status != 0:
        return [f"{PROMETHEUS_RULE}: promtool check rules failed:\n{out}{err}"], counted
    return [], counted


def run_rule_tests(
    repo: Path, rules_file: Path, work: Path, tests: Path | None = None
) -> tuple[list[str], str]:
    """`promtool test rules` on a copy of rules-test.yml beside the rules without annotations."""
    rules = yaml.safe_load(rules_file.read_text())
    for group in rules.get("groups") or []:
        for rule in group.get("rules") or []:
            rule.pop("annotations", None)
    (work / "hookflow.rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
    shutil.copy(tests or repo / RULES_TEST, work / "rules-test.yml")
    status, out, err = tools.run("promtool", "test", "rules", "rules-test.yml", cwd=work)
    if status != 0:
        return [f"{RULES_TEST}: promtool test rules failed:\n{out}{err}"], out
    return [], out


def check_config(repo: Path, rules_file: Path, work: Path, rules_in_container: str) -> list[str]:
    """`promtool check config` on the compose prometheus.yml, its rule file pointed at `rules_file`."""
    config = yaml.safe_load((repo / PROMETHEUS_CONFIG).read_text())
    files = config.get("rule_files") or []
    if rules_in_container not in files:
        return [f"{PROMETHEUS_CONFIG}: rule_files {files} does not name {rules_in_container}"]
    config["rule_files"] = [str(rules_file) if f == rules_in_container else f for f in files]
    copy = work / "prometheus.yml"
    copy.write_text(yaml.safe_dump(config, sort_keys=False))
    status, out, err = tools.run("promtool", "check", "config", str(copy))
    if status != 0:
        return [f"{PROMETHEUS_CONFIG}: promtool check config failed:\n{out}{err}"]
    return []
