"""KEDA (ScaledObject, TriggerAuthentication) and Prometheus Operator (ServiceMonitor,
PrometheusRule) objects, which the Kubernetes schemas do not cover.

Their shape is checked against models generated from the projects' own CRDs (the cloudcoil
model packages: required fields, types, enums, patterns), strictly — a field the CRD does not
know, such as a misspelt `minReplicasCount`, is an error here although the API server would
silently drop it. Then what they point at: the worker Deployment, the queues, the Secret, the
Services and their port names.
"""

from __future__ import annotations

from cloudcoil.models.keda import v1alpha1 as keda
from cloudcoil.models.prometheus_operator import v1 as monitoring

from . import promql
from .kube import COMPONENT, config_values, describe, find, secret_keys

MODELS = {
    ("keda.sh/v1alpha1", "ScaledObject"): keda.ScaledObject,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): keda.TriggerAuthentication,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): monitoring.ServiceMonitor,
    ("monitoring.coreos.com/v1", "PrometheusRule"): monitoring.PrometheusRule,
}
QUEUE_KINDS = ("sync", "async")
SEVERITIES = {"critical", "warning", "info"}
# Alerts the operations of Hookflow rely on (deploy/README.md, Alerts).
REQUIRED_ALERTS = {
    "HookflowWebhookErrorRatioHigh",
    "HookflowSyncTimeouts",
    "HookflowExecutionsDeadLettered",
    "HookflowQueueBacklogGrowing",
    "HookflowNoReadyWorker",
    "HookflowDependencyDown",
}


def _unknown_fields(given, dumped, path=""):
    """Paths present in `given` that the model dropped: fields its CRD does not define."""
    if isinstance(given, dict) and isinstance(dumped, dict):
        found = []
        for key, value in given.items():
            if key not in dumped:
                found.append(f"{path}/{key}")
            else:
                found += _unknown_fields(value, dumped[key], f"{path}/{key}")
        return found
    if isinstance(given, list) and isinstance(dumped, list):
        return [
            p
            for i, (a, b) in enumerate(zip(given, dumped, strict=False))
            for p in _unknown_fields(a, b, f"{path}/{i}")
        ]
    return []


def model_problems(objects: list[dict], where: str) -> tuple[list[str], int]:
    """Each custom object against its CRD's model; returns problems and how many were checked."""
    problems, checked = [], 0
    for obj in objects:
        model = MODELS.get((obj.get("apiVersion"), obj.get("kind")))
        if model is None:
            continue
        checked += 1
        try:
            parsed = model.model_validate(obj)
        except Exception as error:  # pydantic.ValidationError, listing every field
            problems.append(f"{where}: {describe(obj)} does not match its CRD: {error}")
            continue
        dumped = parsed.model_dump(by_alias=True, exclude_unset=True, mode="json")
        for path in _unknown_fields(obj, dumped):
            problems.append(f"{where}: {describe(obj)}: field {path} is not in its CRD")
    return problems, checked


def keda_problems(
    objects: list[dict], where: str, external_secrets: dict[str, set[str]] | None = None
) -> list[str]:
    """The worker's ScaledObject: its target, its two RabbitMQ triggers, their authentication."""
    problems = []
    secrets = {**(external_secrets or {}), **secret_keys(objects)}
    namespace = config_values(objects).get("HOOKFLOW_NAMESPACE", "hookflow")
    queues = {f"{namespace}.executions.{kind}" for kind in QUEUE_KINDS}
    auths = {a["metadata"]["name"]: a for a in find(objects, "TriggerAuthentication")}
    deployments = {d["metadata"]["name"]: d for d in find(objects, "Deployment")}
    scaled = find(objects, "ScaledObject")
    workers = [
        n for n, d in deployments.items() if d["metadata"].get("labels", {}).get(COMPONENT) == "worker"
    ]
    if len(scaled) != 1:
        problems.append(f"{where}: expected one ScaledObject (the worker's), found {len(scaled)}")
    for so in scaled:
        name = f"{where}: {describe(so)}"
        spec = so["spec"]
        ref = spec.get("scaleTargetRef", {})
        if ref.get("kind", "Deployment") != "Deployment" or ref.get("name") not in workers:
            problems.append(f"{name}: scaleTargetRef {ref} is not the worker Deployment ({workers})")
        low, high = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
        if low < 1:
            problems.append(
                f"{name}: minReplicaCount {low}: with no worker, sync callers wait for a pod to start"
            )
        if low > high:
            problems.append(f"{name}: minReplicaCount {low} above maxReplicaCount {high}")
        named = set()
        for trigger in spec.get("triggers") or []:
            meta = trigger.get("metadata") or {}
            tname = f"{name} trigger {trigger.get('name') or meta.get('queueName')!r}"
            if trigger.get("type") != "rabbitmq":
                problems.append(f"{tname}: type {trigger.get('type')!r}, expected rabbitmq")
                continue
            named.add(meta.get("queueName"))
            if meta.get("mode") != "QueueLength":
                problems.append(f"{tname}: mode {meta.get('mode')!r}, expected QueueLength")
            if not str(meta.get("value", "")).isdigit() or int(meta["value"]) < 1:
                problems.append(f"{tname}: value {meta.get('value')!r} is not a positive whole number")
            if "host" in meta or "hostFromEnv" in meta:
                problems.append(
                    f"{tname}: the broker URL is written in the trigger; it belongs in the TriggerAuthentication"
                )
            auth_ref = trigger.get("authenticationRef") or {}
            auth = auths.get(auth_ref.get("name"))
            if auth_ref.get("kind", "TriggerAuthentication") != "TriggerAuthentication" or auth is None:
                problems.append(
                    f"{tname}: authenticationRef {auth_ref} is not a rendered TriggerAuthentication"
                )
                continue
            targets = {t.get("parameter") for t in auth["spec"].get("secretTargetRef") or []}
            if "host" not in targets:
                problems.append(f"{tname}: {describe(auth)} gives no `host` parameter")
        for missing in sorted(queues - named):
            problems.append(f"{name}: no rabbitmq trigger on queue {missing}")
        for extra in sorted(named - queues):
            problems.append(
                f"{name}: trigger on {extra!r}, which is not one of Hookflow's queues {sorted(queues)}"
            )
    for auth in auths.values():
        for target in auth["spec"].get("secretTargetRef") or []:
            if target.get("key") not in secrets.get(target.get("name"), set()):
                problems.append(
                    f"{where}: {describe(auth)}: Secret {target.get('name')!r} has no key {target.get('key')!r}"
                )
    return problems


def service_monitor_problems(objects: list[dict], where: str) -> list[str]:
    """Each ServiceMonitor selects Services by their labels, and names ports they have; the
    ingress's and the worker's Services are both monitored."""
    problems = []
    services = find(objects, "Service")
    monitored = set()
    for sm in find(objects, "ServiceMonitor"):
        name = f"{where}: {describe(sm)}"
        spec = sm["spec"]
        if spec.get("namespaceSelector"):
            problems.append(f"{name}: namespaceSelector set; the Services are in the monitor's own namespace")
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        matched = [
            s
            for s in services
            if selector and all((s["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
        ]
        if not matched:
            problems.append(f"{name}: selector {selector} matches no Service's labels")
        for endpoint in spec.get("endpoints") or []:
            port = endpoint.get("port")
            if not port:
                problems.append(f"{name}: an endpoint has no named port")
            if endpoint.get("path", "/metrics") != "/metrics":
                problems.append(f"{name}: endpoint path {endpoint.get('path')!r}, expected /metrics")
            for svc in matched:
                if port not in {p.get("name") for p in svc["spec"].get("ports") or []}:
                    problems.append(f"{name}: port {port!r} is not a port name of {describe(svc)}")
        monitored |= {s["metadata"]["name"] for s in matched}
    for svc in services:
        if (
            svc["metadata"].get("labels", {}).get(COMPONENT) in ("ingress", "worker")
            and svc["metadata"]["name"] not in monitored
        ):
            problems.append(f"{where}: {describe(svc)} is scraped by no ServiceMonitor")
    return problems


def prometheus_rule_problems(objects: list[dict], where: str) -> list[str]:
    """Alert rules: unique names, a severity and a summary, parseable PromQL, the required set."""
    problems, names = [], []
    rules = find(objects, "PrometheusRule")
    if not rules:
        problems.append(f"{where}: no PrometheusRule")
    for pr in rules:
        name = f"{where}: {describe(pr)}"
        for group in pr["spec"].get("groups") or []:
            for rule in group.get("rules") or []:
                alert = rule.get("alert")
                rname = f"{name} rule {alert or rule.get('record')!r}"
                if not alert:
                    continue
                names.append(alert)
                if (rule.get("labels") or {}).get("severity") not in SEVERITIES:
                    problems.append(
                        f"{rname}: severity {(rule.get('labels') or {}).get('severity')!r} not in {sorted(SEVERITIES)}"
                    )
                if not (rule.get("annotations") or {}).get("summary"):
                    problems.append(f"{rname}: no summary annotation")
        _, parse_problems = promql.rule_usages(pr, name)
        problems += parse_problems
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{where}: alert {duplicate} is defined more than once")
    for missing in sorted(REQUIRED_ALERTS - set(names)):
        problems.append(f"{where}: alert {missing} is missing")
    return problems


def all_problems(
    objects: list[dict], where: str, external_secrets: dict[str, set[str]] | None = None
) -> list[str]:
    return (
        model_problems(objects, where)[0]
        + keda_problems(objects, where, external_secrets)
        + service_monitor_problems(objects, where)
        + prometheus_rule_problems(objects, where)
    )
