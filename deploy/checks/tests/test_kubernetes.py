"""The Kubernetes manifests (deploy/k8s), as kustomize renders the base and the production
overlay: schemas, relations between objects, the custom resources, and what the overlay changes."""

import pytest

from conftest import FIGURES, KUBERNETES_VERSIONS
from deploycheck import crds, kube

KINDS = {
    "Deployment": 2,
    "Service": 2,
    "ConfigMap": 1,
    "HorizontalPodAutoscaler": 1,
    "PodDisruptionBudget": 2,
    "ScaledObject": 1,
    "TriggerAuthentication": 1,
    "ServiceMonitor": 2,
    "PrometheusRule": 1,
}
RENDERS = ["base", "production"]


def fail_on(problems):
    assert not problems, "\n" + "\n".join(problems)


@pytest.mark.parametrize("name", RENDERS)
def test_renders_every_kind(rendered, name):
    counts = {kind: len(kube.find(rendered[name], kind)) for kind in KINDS}
    fail_on([f"{name}: {counts[k]} {k} rendered, expected {n}" for k, n in KINDS.items() if counts[k] != n])


@pytest.mark.parametrize("name", RENDERS)
def test_schemas(rendered, name):
    problems, validated = kube.schema_problems(rendered[name], name, KUBERNETES_VERSIONS)
    FIGURES[
        f"Kubernetes objects validated against the {' and '.join(KUBERNETES_VERSIONS)} schemas ({name})"
    ] = validated
    fail_on(problems)


@pytest.mark.parametrize("name", RENDERS)
def test_custom_resources_match_their_crds(rendered, name):
    problems, checked = crds.model_problems(rendered[name], name)
    FIGURES[f"KEDA / Prometheus Operator objects checked against their CRD models ({name})"] = checked
    fail_on(problems)


@pytest.mark.parametrize("name", RENDERS)
def test_workloads(rendered, base_secrets, name):
    fail_on(kube.all_problems(rendered[name], name, base_secrets))


@pytest.mark.parametrize("name", RENDERS)
def test_autoscaling_and_monitoring(rendered, base_secrets, name):
    objects = rendered[name]
    fail_on(
        crds.keda_problems(objects, name, base_secrets)
        + crds.service_monitor_problems(objects, name)
        + crds.prometheus_rule_problems(objects, name)
    )


def test_base_secret_holds_placeholders_only(rendered):
    secrets = kube.find(rendered["base"], "Secret")
    fail_on([] if secrets else ["base: no example Secret"])
    fail_on(
        [
            f"base: Secret/{s['metadata']['name']} key {key} is not an obvious placeholder (REPLACE-ME)"
            for s in secrets
            for key, value in (s.get("stringData") or {}).items()
            if "REPLACE-ME" not in value
        ]
        + [
            f"base: Secret/{s['metadata']['name']} has base64 `data`; keep the example readable in stringData"
            for s in secrets
            if s.get("data")
        ]
    )


def test_production_overlay(rendered):
    base, prod = rendered["base"], rendered["production"]
    problems = []
    if kube.find(prod, "Secret"):
        problems.append("production: renders a Secret; it must come from outside the repository")
    namespaces = {o["metadata"].get("namespace") for o in prod if o["kind"] != "Namespace"}
    if namespaces != {"hookflow"} or not kube.find(prod, "Namespace", "hookflow"):
        problems.append(f"production: objects not all in the namespace it creates: {namespaces}")
    for dep in kube.find(prod, "Deployment"):
        image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
        base_image = kube.find(base, "Deployment", dep["metadata"]["name"])[0]["spec"]["template"]["spec"][
            "containers"
        ][0]["image"]
        if image == base_image or "/" not in image:
            problems.append(
                f"production: Deployment/{dep['metadata']['name']} image {image!r} is not a registry image"
            )
    hpa = kube.find(prod, "HorizontalPodAutoscaler")[0]["spec"]
    scaled = kube.find(prod, "ScaledObject")[0]["spec"]
    if hpa["minReplicas"] <= kube.find(base, "HorizontalPodAutoscaler")[0]["spec"]["minReplicas"]:
        problems.append("production: the ingress's minReplicas is not above the base's")
    if scaled["minReplicaCount"] <= kube.find(base, "ScaledObject")[0]["spec"]["minReplicaCount"]:
        problems.append("production: the workers' minReplicaCount is not above the base's")
    if len(scaled.get("triggers") or []) != 2:
        problems.append("production: the ScaledObject patch lost the triggers")
    fail_on(problems)
