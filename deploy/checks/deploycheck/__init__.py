"""Offline checks of Hookflow's deployment files.

Each module checks one kind of file and offers functions that take parsed content and return a
list of problems, each a sentence that names the file (or rendered object) and what is wrong.
The tests in ../tests call them on the real files, and on broken copies to prove that they
catch what they are meant to. Nothing here needs a cluster, a Docker engine or the network:
the external tools (kubectl for kustomize, promtool, hadolint, docker-compose) are run from
the paths scripts/check-deploy.sh installs them to.

Layout:
- tools.py      where the external tools are, and running them
- kube.py       rendered Kubernetes objects: schemas, workloads, Services, autoscalers, budgets
- crds.py       KEDA, ServiceMonitor and PrometheusRule objects (no built-in schema for them)
- compose.py    docker-compose.yml, with the Prometheus and Grafana files it mounts
- dockerfile.py deploy/Dockerfile and .dockerignore
- promql.py     PromQL of the dashboard and the alert rules: parsing, selectors, labels
- metrics.py    /metrics dumps, and the metrics and labels the PromQL may use
- rules.py      the alert rules as Prometheus sees them: extraction, promtool
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
