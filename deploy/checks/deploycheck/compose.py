"""docker-compose.yml, read through Docker Compose itself (`config`, which needs no engine), and
the Prometheus and Grafana files it mounts.

Checked on Compose's normalised model: every service has a pinned image and a health check;
every depends_on waits for `service_healthy` of a service that has one; every bind-mounted file
exists (Docker would otherwise create an empty directory in its place); the published ports;
Hookflow's settings agree with the servers' credentials and with each other; the stop grace
period covers the sync drain; Prometheus scrapes what the services expose and loads the rules
file the entrypoint writes; Grafana gets the data source and the dashboard.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import yaml

from . import tools
from .kube import DEFAULT_BODY_TIMEOUT_MS, DEFAULT_SYNC_TIMEOUT_MS, DRAIN_EXTRA_S, WORKER_DRAIN_S
from .kube import REQUIRED_ENV as KUBE_REQUIRED_ENV

COMPOSE_FILE = "docker-compose.yml"
# Published on the host: service -> container port.
PUBLISHED = {"ingress": 13000, "grafana": 3000, "prometheus": 9090, "rabbitmq": 15672}
HOOKFLOW_SERVICES = {"ingress": "ingress", "worker": "worker"}  # service -> binary
# What Kubernetes requires, and a metrics listener Prometheus can reach from another container.
REQUIRED_ENV = {name: names | {"HOOKFLOW_METRICS_LISTEN"} for name, names in KUBE_REQUIRED_ENV.items()}
RABBITMQ_PROMETHEUS_PORT = 15692


def load(repo: Path) -> tuple[dict | None, list[str]]:
    """Compose's normalised model of docker-compose.yml, and the problems Compose reported."""
    args = ["--project-directory", str(repo), "-f", str(repo / COMPOSE_FILE)]
    status, _, err = tools.run("compose", *args, "config", "-q", cwd=repo)
    if status != 0:
        return None, [f"{COMPOSE_FILE}: `docker compose config -q` failed: {err.strip()}"]
    status, out, err = tools.run("compose", *args, "config", "--format", "json", cwd=repo)
    if status != 0:
        return None, [f"{COMPOSE_FILE}: `docker compose config` failed: {err.strip()}"]
    return json.loads(out), []


def _seconds(duration: str | None) -> float:
    """Compose durations ("45s", "1m30s", "500ms") in seconds; Docker's default stop period is 10 s."""
    if not duration:
        return 10.0
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    return sum(float(n) * units[u] for n, u in re.findall(r"([\d.]+)(ms|us|h|m|s)", duration))


def _binds(service: dict) -> list[dict]:
    return [v for v in service.get("volumes") or [] if v.get("type") == "bind"]


def host_path(service: dict, container_path: str) -> Path | None:
    """The host file behind `container_path` in `service`, through its bind mounts."""
    target = PurePosixPath(container_path)
    best = None
    for bind in _binds(service):
        mount = PurePosixPath(bind["target"])
        if target == mount or mount in target.parents:
            if best is None or len(str(mount)) > len(best[0]):
                best = (str(mount), Path(bind["source"]) / target.relative_to(mount))
    return best[1] if best else None


def service_problems(model: dict) -> list[str]:
    """Images, health checks, depends_on, bind sources, published ports."""
    problems = []
    services = model.get("services") or {}
    for name in sorted(set(PUBLISHED) | set(HOOKFLOW_SERVICES) | {"redis", "postgres"}):
        if name not in services:
            problems.append(f"{COMPOSE_FILE}: no service {name!r}")
    for name, svc in sorted(services.items()):
        where = f"{COMPOSE_FILE}: service {name}"
        image = svc.get("image") or ""
        if not image:
            problems.append(f"{where}: no image")
        elif "build" not in svc and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")):
            problems.append(f"{where}: image {image!r} has no pinned tag")
        check = svc.get("healthcheck") or {}
        test = check.get("test") or []
        if check.get("disable") or not test or test[0] == "NONE":
            problems.append(f"{where}: no health check")
        for dependency, spec in sorted((svc.get("depends_on") or {}).items()):
            if spec.get("condition") != "service_healthy":
                problems.append(
                    f"{where}: depends_on {dependency} with condition {spec.get('condition')!r}, "
                    "expected service_healthy"
                )
            target = services.get(dependency)
            if target is None:
                problems.append(f"{where}: depends_on {dependency}, which is not a service")
            elif not ((target.get("healthcheck") or {}).get("test")) or (target.get("healthcheck") or {}).get(
                "disable"
            ):
                problems.append(f"{where}: depends_on {dependency}, which has no health check to wait for")
        for bind in _binds(svc):
            if not Path(bind["source"]).exists():
                problems.append(f"{where}: mounts {bind['source']}, which does not exist")
        published = {(p.get("target"), str(p.get("published"))) for p in svc.get("ports") or []}
        if name in PUBLISHED and (PUBLISHED[name], str(PUBLISHED[name])) not in published:
            problems.append(f"{where}: port {PUBLISHED[name]} is not published as {PUBLISHED[name]}")
        for port in svc.get("ports") or []:
            if port.get("host_ip") not in ("127.0.0.1", "::1"):
                problems.append(
                    f"{where}: port {port.get('published')} is published on every interface; "
                    "its credentials are for local use, bind it to 127.0.0.1"
                )
    return problems


def hookflow_problems(model: dict) -> list[str]:
    """The ingress and the workers: binaries, health checks, settings, credentials, stop period."""
    problems = []
    services = model.get("services") or {}
    keys = set()
    for name, binary in HOOKFLOW_SERVICES.items():
        svc = services.get(name)
        if svc is None:
            continue
        where = f"{COMPOSE_FILE}: service {name}"
        build = svc.get("build") or {}
        if build.get("dockerfile") != "deploy/Dockerfile":
            problems.append(f"{where}: not built from deploy/Dockerfile")
        command = (svc.get("entrypoint") or []) + (svc.get("command") or [])
        if not command or PurePosixPath(command[0]).name != binary:
            problems.append(f"{where}: runs {command!r}, expected /usr/local/bin/{binary}")
        test = (svc.get("healthcheck") or {}).get("test") or []
        if test != ["CMD", f"/usr/local/bin/{binary}", "healthcheck"]:
            problems.append(
                f"{where}: health check {test!r}, expected [CMD, /usr/local/bin/{binary}, healthcheck]"
            )
        env = svc.get("environment") or {}
        for missing in sorted(REQUIRED_ENV[name] - set(env)):
            problems.append(f"{where}: {missing} is not set")
        keys.add(env.get("HOOKFLOW_INTERNAL_KEY"))
        if len(env.get("HOOKFLOW_INTERNAL_KEY") or "") < 32:
            problems.append(f"{where}: HOOKFLOW_INTERNAL_KEY shorter than 32 characters")
        if name == "ingress" and len(env.get("HOOKFLOW_ADMIN_TOKEN") or "") < 16:
            problems.append(f"{where}: HOOKFLOW_ADMIN_TOKEN shorter than 16 characters")
        if not (env.get("HOOKFLOW_METRICS_LISTEN") or "").startswith("0.0.0.0:"):
            problems.append(f"{where}: HOOKFLOW_METRICS_LISTEN must bind 0.0.0.0 for Prometheus to scrape it")
        problems += _url_problems(where, env, services)
        if name == "ingress":
            timeout = int(env.get("HOOKFLOW_SYNC_TIMEOUT_MS") or DEFAULT_SYNC_TIMEOUT_MS) / 1000
            body = int(env.get("HOOKFLOW_BODY_TIMEOUT_MS") or DEFAULT_BODY_TIMEOUT_MS) / 1000
            drain = body + timeout + DRAIN_EXTRA_S
            why = f"body timeout {body:g} s + sync timeout {timeout:g} s + {DRAIN_EXTRA_S} s"
        else:
            drain, why = WORKER_DRAIN_S, "executions 30 s + records 10 s"
        if _seconds(svc.get("stop_grace_period")) <= drain:
            problems.append(
                f"{where}: stop_grace_period {svc.get('stop_grace_period') or '10s (default)'} does not "
                f"exceed the drain that SIGTERM starts ({why})"
            )
        if folder := env.get("HOOKFLOW_WORKFLOWS_DIR"):
            source = host_path(svc, folder)
            if (
                source is None
                or not source.is_dir()
                or not any(source.glob("*.json"))
                and not any(source.glob("*.y*ml"))
            ):
                problems.append(
                    f"{where}: HOOKFLOW_WORKFLOWS_DIR {folder} is not a mounted folder of workflow files"
                )
    if len(keys) > 1:
        problems.append(
            f"{COMPOSE_FILE}: the ingress and the workers have different HOOKFLOW_INTERNAL_KEY values"
        )
    worker = services.get("worker") or {}
    replicas = (worker.get("deploy") or {}).get("replicas", 1)
    if replicas < 2:
        problems.append(f"{COMPOSE_FILE}: service worker runs {replicas} replica(s), expected 2")
    if (
        "ingress" in services
        and services["ingress"].get("environment", {}).get("HOOKFLOW_WORKFLOWS_DIR") is None
    ):
        problems.append(
            f"{COMPOSE_FILE}: service ingress has no HOOKFLOW_WORKFLOWS_DIR: the README's example workflow is missing"
        )
    return problems


def _url_problems(where: str, env: dict, services: dict) -> list[str]:
    """The broker, Redis and database URLs point at the compose services, with their credentials."""
    problems = []
    expected = {
        "HOOKFLOW_AMQP_URL": ("amqp", "rabbitmq", "RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS"),
        "HOOKFLOW_REDIS_URL": ("redis", "redis", None, None),
        "HOOKFLOW_DATABASE_URL": ("postgres", "postgres", "POSTGRES_USER", "POSTGRES_PASSWORD"),
    }
    for var, (scheme, host, user_var, password_var) in expected.items():
        if var not in env:
            continue
        url = urlsplit(env[var])
        if url.scheme not in (scheme, scheme + "s", "postgresql" if scheme == "postgres" else scheme):
            problems.append(f"{where}: {var} is not a {scheme}:// URL")
        if url.hostname != host or host not in services:
            problems.append(f"{where}: {var} points at {url.hostname!r}, expected the {host} service")
            continue
        server = services[host].get("environment") or {}
        if user_var and (url.username, url.password) != (server.get(user_var), server.get(password_var)):
            problems.append(
                f"{where}: {var} credentials differ from the {host} service's {user_var}/{password_var}"
            )
        if var == "HOOKFLOW_DATABASE_URL" and url.path.lstrip("/") != server.get("POSTGRES_DB"):
            problems.append(
                f"{where}: {var} names database {url.path.lstrip('/')!r}, "
                f"the postgres service creates {server.get('POSTGRES_DB')!r}"
            )
    return problems


def prometheus_files(model: dict) -> tuple[dict, list[str]]:
    """Host paths of the Prometheus service's config, entrypoint and PrometheusRule, and where it
    writes and reads the rules file; with the problems found resolving them."""
    problems = []
    svc = (model.get("services") or {}).get("prometheus") or {}
    entrypoint, command = svc.get("entrypoint") or [], svc.get("command") or []
    files: dict = {}
    if len(entrypoint) != 2 or entrypoint[0] != "/bin/sh":
        return files, [
            f"{COMPOSE_FILE}: service prometheus: entrypoint {entrypoint!r}, expected [/bin/sh, .../entrypoint.sh]"
        ]
    files["entrypoint"] = host_path(svc, entrypoint[1])
    if len(command) < 3:
        return files, [
            f"{COMPOSE_FILE}: service prometheus: command {command!r} lacks PROMETHEUSRULE RULES_FILE args"
        ]
    files["prometheusrule"] = host_path(svc, command[0])
    files["rules_in_container"] = command[1]
    config = next((a.split("=", 1)[1] for a in command if a.startswith("--config.file=")), None)
    files["config"] = host_path(svc, config) if config else None
    for key in ("entrypoint", "prometheusrule", "config"):
        if files.get(key) is None or not files[key].is_file():
            problems.append(
                f"{COMPOSE_FILE}: service prometheus: the {key} file is not mounted from the repository"
            )
    return files, problems


def scrape_problems(model: dict, config: dict, rules_in_container: str) -> list[str]:
    """prometheus.yml scrapes the ingress, every worker and RabbitMQ where they listen, and loads
    the rules file that the entrypoint writes."""
    problems = []
    where = "deploy/prometheus/prometheus.yml"
    services = model.get("services") or {}
    jobs = {job["job_name"]: job for job in config.get("scrape_configs") or []}

    def port_of(service: str) -> int | None:
        listen = ((services.get(service) or {}).get("environment") or {}).get("HOOKFLOW_METRICS_LISTEN", "")
        return int(listen.rsplit(":", 1)[1]) if ":" in listen else None

    static = lambda job: {t for c in job.get("static_configs") or [] for t in c.get("targets") or []}  # noqa: E731
    ingress = jobs.get("hookflow-ingress")
    if not ingress or f"ingress:{port_of('ingress')}" not in static(ingress):
        problems.append(f"{where}: job hookflow-ingress does not scrape ingress:{port_of('ingress')}")
    worker = jobs.get("hookflow-worker")
    dns = [c for c in (worker or {}).get("dns_sd_configs") or [] if "worker" in (c.get("names") or [])]
    replicas = ((services.get("worker") or {}).get("deploy") or {}).get("replicas", 1)
    if not dns and len(static(worker or {})) < replicas:
        problems.append(
            f"{where}: job hookflow-worker does not find every worker (dns_sd_configs on 'worker')"
        )
    for c in dns:
        if c.get("type", "SRV") != "A" or c.get("port") != port_of("worker"):
            problems.append(
                f"{where}: job hookflow-worker: dns_sd_configs must be type A on port {port_of('worker')}"
            )
    rabbit = jobs.get("rabbitmq")
    if not rabbit or f"rabbitmq:{RABBITMQ_PROMETHEUS_PORT}" not in static(rabbit):
        problems.append(
            f"{where}: job rabbitmq does not scrape rabbitmq:{RABBITMQ_PROMETHEUS_PORT} (prometheus plugin)"
        )
    if rules_in_container not in (config.get("rule_files") or []):
        problems.append(
            f"{where}: rule_files {config.get('rule_files')} does not load {rules_in_container}, "
            "the file entrypoint.sh writes"
        )
    return problems


def grafana_problems(model: dict, repo: Path) -> list[str]:
    """Grafana's provisioning is mounted, its data source is the compose Prometheus, and its
    dashboard provider reads the folder where hookflow.json is mounted."""
    problems = []
    svc = (model.get("services") or {}).get("grafana") or {}
    where = f"{COMPOSE_FILE}: service grafana"
    provisioning = host_path(svc, "/etc/grafana/provisioning")
    if provisioning is None or not provisioning.is_dir():
        return [f"{where}: /etc/grafana/provisioning is not mounted from the repository"]
    sources = [
        d
        for f in sorted((provisioning / "datasources").glob("*.y*ml"))
        for d in (yaml.safe_load(f.read_text()) or {}).get("datasources") or []
    ]
    prometheus = [d for d in sources if d.get("type") == "prometheus"]
    if not prometheus or urlsplit(prometheus[0].get("url", "")).netloc != "prometheus:9090":
        problems.append(f"{where}: no provisioned Prometheus data source at http://prometheus:9090")
    providers = [
        p
        for f in sorted((provisioning / "dashboards").glob("*.y*ml"))
        for p in (yaml.safe_load(f.read_text()) or {}).get("providers") or []
    ]
    dashboard = (repo / "deploy/grafana/hookflow.json").resolve()
    mounted = [b["target"] for b in _binds(svc) if Path(b["source"]).resolve() == dashboard]
    folders = {(p.get("options") or {}).get("path") for p in providers if p.get("type", "file") == "file"}
    if not mounted:
        problems.append(f"{where}: deploy/grafana/hookflow.json is not mounted")
    elif str(PurePosixPath(mounted[0]).parent) not in folders:
        problems.append(
            f"{where}: hookflow.json is mounted at {mounted[0]}, "
            f"which no dashboard provider reads ({sorted(map(str, folders))})"
        )
    return problems
