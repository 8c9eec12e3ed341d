"""pytest set-up of the deployment checks: the --metrics option, the rendered and parsed files
shared by the tests, a summary of what was checked, and a failed run when any test is skipped
(every check must run or fail loudly)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from deploycheck import REPO, compose, kube, rules  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
INTENDED_DUMPS = [FIXTURES / "metrics-ingress.txt", FIXTURES / "metrics-worker.txt"]
KUSTOMIZATIONS = {"base": REPO / "deploy/k8s", "production": REPO / "deploy/k8s/overlays/production"}
# Oldest Kubernetes the manifests support (the preStop sleep handler) and the newest schema known.
KUBERNETES_VERSIONS = ["1.30.0", "1.37.0"]

# What the checks covered, for the summary at the end: name -> count.
FIGURES: Counter = Counter()
_skipped: list[str] = []


def pytest_addoption(parser):
    parser.addoption(
        "--metrics",
        action="append",
        default=[],
        metavar="FILE",
        help="text of a real /metrics answer of the ingress or the worker (repeatable); without it, "
        "the hand-made dumps of the intended metrics in fixtures/ are used",
    )


def _dumps(config) -> tuple[list[Path], bool]:
    given = [Path(p) for p in config.getoption("--metrics")]
    return (given, True) if given else (INTENDED_DUMPS, False)


def pytest_report_header(config):
    dumps, real = _dumps(config)
    kind = "given with --metrics" if real else "NO --metrics GIVEN: hand-made dumps of the intended metrics"
    return [f"/metrics dumps ({kind}): " + ", ".join(map(str, dumps))]


@pytest.fixture(scope="session")
def metrics_dumps(request) -> list[Path]:
    return _dumps(request.config)[0]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict]]:
    """kustomize output of the base and of each overlay."""
    return {name: kube.render(path) for name, path in KUSTOMIZATIONS.items()}


@pytest.fixture(scope="session")
def base_secrets(rendered) -> dict[str, set[str]]:
    """The base's example Secret: the keys the real one, created outside the repository, must have."""
    return kube.secret_keys(rendered["base"])


@pytest.fixture(scope="session")
def compose_model() -> dict:
    model, problems = compose.load(REPO)
    assert not problems, "\n".join(problems)
    return model


@pytest.fixture(scope="session")
def rules_file(tmp_path_factory) -> Path:
    """The rules file that compose's Prometheus loads, written by its entrypoint."""
    out = tmp_path_factory.mktemp("rules") / "hookflow.rules.yml"
    problems = rules.extract(REPO, out)
    assert not problems, "\n".join(problems)
    return out


@pytest.fixture(scope="session")
def prometheus_rule() -> dict:
    return yaml.safe_load((REPO / rules.PROMETHEUS_RULE).read_text())


def pytest_runtest_logreport(report):
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.write_sep("-", "what was checked")
        for name, count in FIGURES.items():
            terminalreporter.write_line(f"{count:5d}  {name}")
    if _skipped:
        terminalreporter.write_sep("!", "skipped checks are failures here")
        for nodeid in _skipped:
            terminalreporter.write_line(f"SKIPPED: {nodeid}")


def pytest_sessionfinish(session, exitstatus):
    if _skipped and session.exitstatus == 0:
        session.exitstatus = 1
