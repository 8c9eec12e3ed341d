"""Rendered Kubernetes objects (kustomize output of deploy/k8s and its overlays).

Rendering uses kustomize as built into kubectl. Then: every object against the Kubernetes API
schemas (kubernetes-validate, strict: unknown fields are errors), and the relations the schemas
cannot see: selectors that match pod labels, Service target ports that exist, probes on the
metrics port, the security settings, a grace period longer than the sync timeout, references
to the ConfigMap and the Secret, autoscalers and budgets aimed at existing Deployments.
"""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import yaml

from . import tools

NAME = "app.kubernetes.io/name"
COMPONENT = "app.kubernetes.io/component"
# Kinds that kubernetes-validate has no schema for; crds.py checks them.
CUSTOM_KINDS = {
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}
NONROOT_UID = 65532
# Settings each binary needs in distributed mode (README.md, Configuration).
REQUIRED_ENV = {
    "ingress": {
        "HOOKFLOW_AMQP_URL",
        "HOOKFLOW_REDIS_URL",
        "HOOKFLOW_DATABASE_URL",
        "HOOKFLOW_INTERNAL_KEY",
        "HOOKFLOW_ADMIN_TOKEN",
    },
    "worker": {"HOOKFLOW_AMQP_URL", "HOOKFLOW_REDIS_URL", "HOOKFLOW_DATABASE_URL", "HOOKFLOW_INTERNAL_KEY"},
}
DEFAULT_SYNC_TIMEOUT_MS = 30000
DEFAULT_BODY_TIMEOUT_MS = 10000
# A stopping ingress answers every request it holds within the body timeout + the sync timeout
# + this (a reply decided at the deadline, settling a key; ingress/src/startup.rs drain_time).
DRAIN_EXTRA_S = 10
# A stopping worker waits up to 30 s for its executions, then up to 10 s for their records.
WORKER_DRAIN_S = 40
DEFAULT_METRICS_PORT = 9464


def render(kustomization_dir: Path) -> list[dict]:
    """`kubectl kustomize DIR`, parsed; raises RuntimeError with kustomize's message on failure."""
    status, out, err = tools.run("kubectl", "kustomize", str(kustomization_dir))
    if status != 0:
        raise RuntimeError(f"{kustomization_dir}: kustomize failed: {err.strip()}")
    return [doc for doc in yaml.safe_load_all(out) if doc]


def describe(obj: dict) -> str:
    meta = obj.get("metadata", {})
    return f"{obj.get('kind')}/{meta.get('name')}"


def find(objects: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [
        o for o in objects if o.get("kind") == kind and (name is None or o["metadata"].get("name") == name)
    ]


def schema_problems(objects: list[dict], where: str, versions: list[str]) -> tuple[list[str], int]:
    """Validates each object against the Kubernetes schemas of each version (strict). Returns the
    problems and how many objects were validated (custom kinds excepted)."""
    problems, validated = [], 0
    for obj in objects:
        key = (obj.get("apiVersion"), obj.get("kind"))
        if key in CUSTOM_KINDS:
            continue
        validated += 1
        for version in versions:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                problems.append(
                    f"{where}: {describe(obj)}: no Kubernetes {version} schema for {key[0]} {key[1]}"
                )
            except kubernetes_validate.ValidationError as error:
                path = "/".join(str(p) for p in error.path)
                problems.append(
                    f"{where}: {describe(obj)}: invalid for Kubernetes {version} at {path or '.'}: {error.message}"
                )
    return problems, validated


def label_problems(objects: list[dict], where: str) -> list[str]:
    problems = []
    for obj in objects:
        labels = obj.get("metadata", {}).get("labels") or {}
        for label in (NAME, COMPONENT):
            if not labels.get(label):
                problems.append(f"{where}: {describe(obj)} has no {label} label")
    namespaces = {o["metadata"].get("namespace") for o in objects if o.get("kind") != "Namespace"}
    if len(namespaces) > 1:
        problems.append(f"{where}: objects are spread over namespaces {sorted(map(str, namespaces))}")
    return problems


def config_values(objects: list[dict]) -> dict[str, str]:
    """Data of the ConfigMaps the Deployments read with envFrom (all of them, merged)."""
    values: dict[str, str] = {}
    for cm in find(objects, "ConfigMap"):
        values.update(cm.get("data") or {})
    return values


def secret_keys(objects: list[dict]) -> dict[str, set[str]]:
    return {
        s["metadata"]["name"]: set(s.get("data") or {}) | set(s.get("stringData") or {})
        for s in find(objects, "Secret")
    }


def _port_of(listen: str | None, default: int) -> int:
    if not listen:
        return default
    return int(listen.rsplit(":", 1)[1])


def _selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _pods(objects: list[dict]):
    """(Deployment, pod template labels, containers) of every Deployment."""
    for dep in find(objects, "Deployment"):
        template = dep["spec"]["template"]
        yield dep, template.get("metadata", {}).get("labels") or {}, template["spec"].get("containers", [])


def _resolve(port, container: dict) -> int | None:
    """A probe's or Service's port (name or number) as a container port number, None if absent."""
    ports = container.get("ports") or []
    if isinstance(port, str) and not port.isdigit():
        return next((p["containerPort"] for p in ports if p.get("name") == port), None)
    number = int(port)
    return number if any(p["containerPort"] == number for p in ports) else None


def _scaled_targets(objects: list[dict]) -> set[str]:
    names = {h["spec"]["scaleTargetRef"]["name"] for h in find(objects, "HorizontalPodAutoscaler")}
    names |= {s["spec"]["scaleTargetRef"]["name"] for s in find(objects, "ScaledObject")}
    return names


def _effective(pod_sc: dict, container_sc: dict, key: str):
    return container_sc.get(key, pod_sc.get(key))


def deployment_problems(
    objects: list[dict], where: str, external_secrets: dict[str, set[str]] | None = None
) -> list[str]:
    """Deployments: selectors, security, probes, grace period, resources, configuration.
    `external_secrets` names Secrets that exist outside the rendered set, with their keys."""
    problems = []
    config = config_values(objects)
    configmaps = {c["metadata"]["name"] for c in find(objects, "ConfigMap")}
    secrets = {**(external_secrets or {}), **secret_keys(objects)}
    sync_timeout_s = int(config.get("HOOKFLOW_SYNC_TIMEOUT_MS", DEFAULT_SYNC_TIMEOUT_MS)) / 1000
    body_timeout_s = int(config.get("HOOKFLOW_BODY_TIMEOUT_MS", DEFAULT_BODY_TIMEOUT_MS)) / 1000
    metrics_port = _port_of(config.get("HOOKFLOW_METRICS_LISTEN"), DEFAULT_METRICS_PORT)
    scaled = _scaled_targets(objects)
    deployments = find(objects, "Deployment")
    if not deployments:
        problems.append(f"{where}: no Deployment")
    for dep, pod_labels, containers in _pods(objects):
        name = f"{where}: {describe(dep)}"
        spec, pod = dep["spec"], dep["spec"]["template"]["spec"]
        component = pod_labels.get(COMPONENT)
        selector = spec.get("selector", {})
        if selector.get("matchExpressions") or not _selects(selector.get("matchLabels") or {}, pod_labels):
            problems.append(f"{name}: selector {selector} does not match its pod labels {pod_labels}")
        if dep["metadata"]["name"] in scaled and "replicas" in spec:
            problems.append(
                f"{name}: sets replicas although an autoscaler owns the count (every apply would reset it)"
            )
        pod_sc = pod.get("securityContext") or {}
        if _effective(pod_sc, {}, "seccompProfile") is None and any(
            (c.get("securityContext") or {}).get("seccompProfile") is None for c in containers
        ):
            problems.append(f"{name}: no seccompProfile")
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if len(containers) != 1:
            problems.append(f"{name}: expected one container, found {len(containers)}")
        for container in containers:
            cname = f"{name} container {container.get('name')}"
            sc = container.get("securityContext") or {}
            expected = {
                "runAsNonRoot": (_effective(pod_sc, sc, "runAsNonRoot"), True),
                "runAsUser": (_effective(pod_sc, sc, "runAsUser"), NONROOT_UID),
                "readOnlyRootFilesystem": (sc.get("readOnlyRootFilesystem"), True),
                "allowPrivilegeEscalation": (sc.get("allowPrivilegeEscalation"), False),
                "seccompProfile.type": (
                    (_effective(pod_sc, sc, "seccompProfile") or {}).get("type"),
                    "RuntimeDefault",
                ),
            }
            for key, (got, want) in expected.items():
                if got != want:
                    problems.append(f"{cname}: securityContext {key} is {got!r}, expected {want!r}")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                problems.append(f"{cname}: securityContext does not drop ALL capabilities")
            resources = container.get("resources") or {}
            for section in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in (resources.get(section) or {}):
                        problems.append(f"{cname}: no resources.{section}.{resource}")
            command = container.get("command") or container.get("args") or []
            binary = Path(command[0]).name if command else None
            if component in REQUIRED_ENV and binary != component:
                problems.append(
                    f"{cname}: component {component!r} runs {command!r}, expected /usr/local/bin/{component}"
                )
            if _port_of_name(container, "metrics") != metrics_port:
                problems.append(
                    f"{cname}: no container port named 'metrics' = {metrics_port} (HOOKFLOW_METRICS_LISTEN)"
                )
            if component == "ingress":
                listen = _port_of(config.get("HOOKFLOW_LISTEN"), 13000)
                if _port_of_name(container, "http") != listen:
                    problems.append(f"{cname}: no container port named 'http' = {listen} (HOOKFLOW_LISTEN)")
            for probe, path in (
                ("startupProbe", None),
                ("livenessProbe", "/healthz"),
                ("readinessProbe", "/readyz"),
            ):
                get = (container.get(probe) or {}).get("httpGet")
                if not get:
                    problems.append(f"{cname}: no {probe} with httpGet")
                    continue
                if path and get.get("path") != path:
                    problems.append(f"{cname}: {probe} GETs {get.get('path')!r}, expected {path}")
                if _resolve(get.get("port"), container) != metrics_port:
                    problems.append(
                        f"{cname}: {probe} port {get.get('port')!r} is not the metrics port {metrics_port}"
                    )
            pre_stop = ((container.get("lifecycle") or {}).get("preStop")) or {}
            pause = (pre_stop.get("sleep") or {}).get("seconds", 0)
            if "exec" in pre_stop:
                problems.append(
                    f"{cname}: preStop exec cannot run in a distroless image (no shell, no sleep); "
                    "use the sleep handler"
                )
            if component == "ingress" and pause <= 0:
                problems.append(f"{cname}: no preStop sleep (the endpoints must drop the pod before SIGTERM)")
            if component == "ingress":
                drain, why = (
                    body_timeout_s + sync_timeout_s + DRAIN_EXTRA_S,
                    f"body timeout {body_timeout_s:g} s + sync timeout {sync_timeout_s:g} s + {DRAIN_EXTRA_S} s",
                )
            else:
                drain, why = WORKER_DRAIN_S, f"executions 30 s + records 10 s"
            if grace <= drain + pause:
                problems.append(
                    f"{name}: terminationGracePeriodSeconds {grace} does not exceed the drain ({why}) "
                    f"plus the preStop pause ({pause} s)"
                )
            env_names = set()
            for source in container.get("envFrom") or []:
                if ref := source.get("configMapRef"):
                    if ref.get("name") not in configmaps:
                        problems.append(f"{cname}: envFrom ConfigMap {ref.get('name')!r} is not rendered")
                    env_names |= set(config)
                if ref := source.get("secretRef"):
                    if ref.get("name") not in secrets:
                        problems.append(f"{cname}: envFrom Secret {ref.get('name')!r} does not exist")
                    env_names |= secrets.get(ref.get("name"), set())
            for var in container.get("env") or []:
                env_names.add(var["name"])
                if ref := (var.get("valueFrom") or {}).get("secretKeyRef"):
                    if ref.get("key") not in secrets.get(ref.get("name"), set()):
                        problems.append(
                            f"{cname}: env {var['name']} reads key {ref.get('key')!r} of Secret "
                            f"{ref.get('name')!r}, which does not have it"
                        )
                if ref := (var.get("valueFrom") or {}).get("configMapKeyRef"):
                    if ref.get("name") not in configmaps or ref.get("key") not in config:
                        problems.append(f"{cname}: env {var['name']} reads a missing ConfigMap key {ref}")
            for missing in sorted(REQUIRED_ENV.get(component, set()) - env_names):
                problems.append(f"{cname}: {missing} is not set (required in distributed mode)")
            image = container.get("image", "")
            if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
                problems.append(f"{cname}: image {image!r} has no pinned tag")
    return problems


def _port_of_name(container: dict, name: str) -> int | None:
    return next((p["containerPort"] for p in container.get("ports") or [] if p.get("name") == name), None)


def service_problems(objects: list[dict], where: str) -> list[str]:
    """Services select pods, and their target ports exist on those pods."""
    problems = []
    pods = list(_pods(objects))
    for svc in find(objects, "Service"):
        name = f"{where}: {describe(svc)}"
        selector = svc["spec"].get("selector") or {}
        matched = [(dep, containers) for dep, labels, containers in pods if _selects(selector, labels)]
        if not matched:
            problems.append(f"{name}: selector {selector} matches no Deployment's pods")
            continue
        for port in svc["spec"].get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            for dep, containers in matched:
                if not any(_resolve(target, c) for c in containers):
                    problems.append(
                        f"{name}: port {port.get('name')!r} targets {target!r}, which {describe(dep)} does not expose"
                    )
    return problems


def autoscaling_problems(objects: list[dict], where: str) -> list[str]:
    """HorizontalPodAutoscalers and PodDisruptionBudgets aim at existing Deployments."""
    problems = []
    deployments = {d["metadata"]["name"]: d for d in find(objects, "Deployment")}
    for hpa in find(objects, "HorizontalPodAutoscaler"):
        name = f"{where}: {describe(hpa)}"
        ref, spec = hpa["spec"]["scaleTargetRef"], hpa["spec"]
        dep = deployments.get(ref.get("name"))
        if ref.get("kind") != "Deployment" or dep is None:
            problems.append(f"{name}: scaleTargetRef {ref} is not a rendered Deployment")
            continue
        if spec.get("minReplicas", 1) > spec["maxReplicas"]:
            problems.append(f"{name}: minReplicas above maxReplicas")
        if spec.get("minReplicas", 1) < 2:
            problems.append(f"{name}: minReplicas below 2 leaves a single point of failure")
        resources = {m["resource"]["name"] for m in spec.get("metrics") or [] if m.get("type") == "Resource"}
        for container in dep["spec"]["template"]["spec"]["containers"]:
            for resource in resources:
                if resource not in ((container.get("resources") or {}).get("requests") or {}):
                    problems.append(
                        f"{name}: scales on {resource} but {describe(dep)} requests no {resource}"
                    )
    pods = list(_pods(objects))
    covered = set()
    for pdb in find(objects, "PodDisruptionBudget"):
        selector = pdb["spec"].get("selector", {}).get("matchLabels") or {}
        matched = [dep["metadata"]["name"] for dep, labels, _ in pods if _selects(selector, labels)]
        if not matched:
            problems.append(f"{where}: {describe(pdb)}: selector {selector} matches no Deployment's pods")
        covered |= set(matched)
    for missing in sorted(set(deployments) - covered):
        problems.append(f"{where}: Deployment/{missing} has no PodDisruptionBudget")
    return problems


def all_problems(
    objects: list[dict], where: str, external_secrets: dict[str, set[str]] | None = None
) -> list[str]:
    """Every relational check of this module (schemas apart)."""
    return (
        label_problems(objects, where)
        + deployment_problems(objects, where, external_secrets)
        + service_problems(objects, where)
        + autoscaling_problems(objects, where)
    )
