"""deploy/Dockerfile and the .dockerignore beside the build context (the repository root).

hadolint lints it; then what a linter cannot know about this repository: every COPY source
exists and is inside the build context (not excluded by .dockerignore); the build compiles the
two packages named in their Cargo.toml and copies the binaries their [[bin]] sections name;
every workspace member's manifest reaches the build; the runtime image runs as a non-root user,
exposes both ports, has the container defaults and health check, and a /data volume for the
embedded mode's SQLite database.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

from . import tools

DOCKERFILE = "deploy/Dockerfile"
PACKAGES = {"ingress": "ingress/Cargo.toml", "worker": "worker/Cargo.toml"}
REQUIRED_ENV = {
    "HOOKFLOW_LISTEN": "0.0.0.0:13000",
    "HOOKFLOW_METRICS_LISTEN": "0.0.0.0:9464",
    "HOOKFLOW_DATABASE_URL": "sqlite:///data/hookflow.db?mode=rwc",
}
NONROOT = "65532"


@dataclass
class Instruction:
    line: int
    keyword: str
    args: str
    stage: int  # index of the FROM it belongs to


def parse(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined; comments and blank lines dropped."""
    instructions, buffer, start, stage = [], "", 0, -1
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        buffer += stripped
        keyword, _, args = buffer.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(start, keyword, args.strip(), stage))
        buffer = ""
    return instructions


def _flags_and_rest(args: str) -> tuple[dict, str]:
    flags = {}
    while m := re.match(r"--([\w-]+)(?:=(\S+))?\s+", args):
        flags[m.group(1)] = m.group(2)
        args = args[m.end() :]
    return flags, args


def _words(args: str) -> list[str]:
    args = args.strip()
    if args.startswith("["):
        return json.loads(args)
    return shlex.split(args)


def _exec_form(args: str) -> list[str] | None:
    try:
        value = json.loads(args)
    except ValueError:
        return None
    return value if isinstance(value, list) else None


def ignore_patterns(text: str) -> list[tuple[bool, re.Pattern]]:
    """.dockerignore lines as (is_exception, regex), in order; the last match decides."""
    patterns = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        line = line.lstrip("!").strip().strip("/")
        regex = ""
        i = 0
        while i < len(line):
            if line.startswith("**", i):
                regex += ".*"
                i += 2
                if line.startswith("/", i):
                    regex = regex[:-2] + "(?:.*/)?"
                    i += 1
            elif line[i] == "*":
                regex += "[^/]*"
                i += 1
            elif line[i] == "?":
                regex += "[^/]"
                i += 1
            else:
                regex += re.escape(line[i])
                i += 1
        patterns.append((exception, re.compile(f"^{regex}$")))
    return patterns


def in_context(path: str, patterns) -> bool:
    """Whether `path` (relative to the context root) reaches the build, as Docker decides: a
    path is excluded when it, or a folder above it, matches the last applicable pattern."""
    parts = Path(path).parts
    excluded = False
    for exception, regex in patterns:
        for depth in range(1, len(parts) + 1):
            if regex.match("/".join(parts[:depth])):
                excluded = not exception
                break
    return not excluded


def hadolint_problems(repo: Path) -> list[str]:
    status, out, err = tools.run(
        "hadolint", "--format", "json", "--failure-threshold", "style", str(repo / DOCKERFILE)
    )
    try:
        findings = json.loads(out or "[]")
    except ValueError:
        return [f"{DOCKERFILE}: hadolint failed: {err.strip() or out.strip()}"]
    problems = [
        f"{DOCKERFILE}:{f['line']}: hadolint {f['code']} ({f['level']}): {f['message']}" for f in findings
    ]
    if status != 0 and not problems:
        problems.append(f"{DOCKERFILE}: hadolint exited {status}: {err.strip()}")
    return problems


def problems(repo: Path, text: str | None = None, ignore_text: str | None = None) -> list[str]:
    """Everything but hadolint, on the Dockerfile `text` (default: the file) and the
    .dockerignore `ignore_text` (default: the file)."""
    text = text if text is not None else (repo / DOCKERFILE).read_text()
    ignore_text = ignore_text if ignore_text is not None else (repo / ".dockerignore").read_text()
    patterns = ignore_patterns(ignore_text)
    found = []
    instructions = parse(text)
    stages = [i for i in instructions if i.keyword == "FROM"]
    names = {}
    for index, stage in enumerate(stages):
        words = stage.args.split()
        if len(words) == 3 and words[1].upper() == "AS":
            names[words[2]] = index
    copied: dict[int, list[str]] = {}
    for ins in instructions:
        if ins.keyword not in ("COPY", "ADD"):
            continue
        where = f"{DOCKERFILE}:{ins.line}"
        flags, rest = _flags_and_rest(ins.args)
        words = _words(rest)
        if len(words) < 2:
            found.append(f"{where}: {ins.keyword} needs a source and a destination")
            continue
        sources = words[:-1]
        if "from" in flags:
            origin = flags["from"]
            if origin not in names or names[origin] >= ins.stage:
                found.append(f"{where}: --from={origin} is not an earlier stage")
            continue
        copied.setdefault(ins.stage, []).extend(sources)
        for source in sources:
            clean = source.strip("/") or "."
            if not (repo / clean).exists():
                found.append(f"{where}: COPY source {source!r} does not exist in the repository")
            elif clean != "." and not in_context(clean, patterns):
                found.append(f"{where}: COPY source {source!r} is excluded by .dockerignore")
    found += _workspace_problems(repo, instructions, copied, patterns)
    found += _runtime_problems(instructions, stages)
    return found


def _workspace_problems(repo: Path, instructions, copied, patterns) -> list[str]:
    problems = []
    root = tomllib.loads((repo / "Cargo.toml").read_text())
    members = root.get("workspace", {}).get("members", [])
    runs = " ".join(i.args for i in instructions if i.keyword == "RUN")
    build = next((i for i in instructions if i.keyword == "RUN" and "cargo build" in i.args), None)
    if build is None:
        return [f"{DOCKERFILE}: no `cargo build`"]
    for flag in ("--release", "--locked"):
        if flag not in build.args:
            problems.append(f"{DOCKERFILE}:{build.line}: cargo build without {flag}")
    for binary, manifest_path in PACKAGES.items():
        manifest = tomllib.loads((repo / manifest_path).read_text())
        package = manifest["package"]["name"]
        bins = [b["name"] for b in manifest.get("bin", [])] or [package]
        if not re.search(rf"(-p|--package)[ =]{re.escape(package)}\b", build.args):
            problems.append(
                f"{DOCKERFILE}:{build.line}: cargo build does not build package {package} ({manifest_path})"
            )
        if binary not in bins:
            problems.append(f"{manifest_path}: no [[bin]] named {binary}")
        if f"target/release/{binary}" not in runs:
            problems.append(
                f"{DOCKERFILE}: the {binary} binary (target/release/{binary}) is never taken from the build"
            )
    for stage, sources in copied.items():
        if not any("cargo" in i.args for i in instructions if i.stage == stage and i.keyword == "RUN"):
            continue
        reached = [s.strip("/") or "." for s in sources]
        for member in ["."] + members:
            manifest = f"{member}/Cargo.toml" if member != "." else "Cargo.toml"
            covered = any(r == "." or manifest == r or manifest.startswith(r + "/") for r in reached)
            if not covered:
                problems.append(f"{DOCKERFILE}: stage {stage} builds with cargo but does not copy {manifest}")
            elif not in_context(manifest, patterns):
                problems.append(f".dockerignore: excludes {manifest}, which the build needs")
    return problems


def _runtime_problems(instructions, stages) -> list[str]:
    problems = []
    last = len(stages) - 1
    final = [i for i in instructions if i.stage == last]
    base = stages[-1].args.split()[0] if stages else ""
    if "distroless" not in base and "debian" not in base and "RUNTIME_IMAGE" not in base:
        problems.append(f"{DOCKERFILE}: runtime image {base!r} is neither distroless nor Debian")
    users = [i.args for i in final if i.keyword == "USER"]
    if not users or users[-1].split(":")[0] in ("0", "root"):
        problems.append(f"{DOCKERFILE}: the runtime stage does not switch to a non-root USER")
    elif users[-1].split(":")[0] != NONROOT:
        problems.append(
            f"{DOCKERFILE}: USER {users[-1]}, expected {NONROOT} (the uid the Kubernetes manifests run as)"
        )
    exposed = {p.split("/")[0] for i in final if i.keyword == "EXPOSE" for p in i.args.split()}
    for port in ("13000", "9464"):
        if port not in exposed:
            problems.append(f"{DOCKERFILE}: port {port} is not EXPOSEd")
    env = {}
    for ins in final:
        if ins.keyword == "ENV":
            for word in shlex.split(ins.args):
                key, _, value = word.partition("=")
                env[key] = value
    for key, value in REQUIRED_ENV.items():
        if env.get(key) != value:
            problems.append(f"{DOCKERFILE}: ENV {key}={env.get(key)!r}, expected {value!r}")
    health = [i for i in final if i.keyword == "HEALTHCHECK"]
    command = _exec_form(_flags_and_rest(health[-1].args)[1].removeprefix("CMD").strip()) if health else None
    if command != ["/usr/local/bin/ingress", "healthcheck"]:
        problems.append(
            f'{DOCKERFILE}: HEALTHCHECK is not CMD ["/usr/local/bin/ingress", "healthcheck"] in exec form'
        )
    starts = [_exec_form(i.args) for i in final if i.keyword in ("CMD", "ENTRYPOINT")]
    if not starts or not starts[-1] or Path(starts[-1][0]).name != "ingress":
        problems.append(f"{DOCKERFILE}: the image does not start the ingress by default (exec-form CMD)")
    copies = [i.args for i in final if i.keyword == "COPY"]
    if not any("/usr/local/bin" in c and "ingress" in c and "worker" in c for c in copies):
        problems.append(f"{DOCKERFILE}: the runtime stage does not copy both binaries to /usr/local/bin")
    if not any(f"--chown={NONROOT}" in c and c.rstrip().endswith("/data") for c in copies):
        problems.append(f"{DOCKERFILE}: no /data owned by {NONROOT} for embedded mode's SQLite")
    if not any(i.keyword == "VOLUME" and "/data" in i.args for i in final):
        problems.append(f"{DOCKERFILE}: /data is not a VOLUME")
    return problems
