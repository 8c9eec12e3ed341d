"""docker-compose.yml and what it mounts: services, health checks, dependencies, Hookflow's
settings, Prometheus's scrape configuration and Grafana's provisioning."""

import yaml

from conftest import FIGURES
from deploycheck import REPO, compose


def fail_on(problems):
    assert not problems, "\n" + "\n".join(problems)


def test_services(compose_model):
    FIGURES["compose services checked"] = len(compose_model["services"])
    fail_on(compose.service_problems(compose_model))


def test_hookflow_services(compose_model):
    fail_on(compose.hookflow_problems(compose_model))


def test_prometheus_scrapes_every_process(compose_model):
    files, problems = compose.prometheus_files(compose_model)
    fail_on(problems)
    config = yaml.safe_load(files["config"].read_text())
    fail_on(compose.scrape_problems(compose_model, config, files["rules_in_container"]))


def test_grafana_provisioning(compose_model):
    fail_on(compose.grafana_problems(compose_model, REPO))
