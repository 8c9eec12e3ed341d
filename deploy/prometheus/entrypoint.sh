#!/bin/sh
# Entrypoint of the Prometheus container of docker-compose.yml.
#
# usage: entrypoint.sh PROMETHEUSRULE RULES_FILE [prometheus arguments...]
#
# Hookflow's alert rules are kept once, as the PrometheusRule in
# deploy/k8s/base/prometheusrule.yaml. Its `spec` has the layout of a Prometheus rules file
# (`groups:`), so this writes that spec to RULES_FILE — the lines after the top-level `spec:`
# key, less their two-space indent — and then runs Prometheus with the remaining arguments
# (none: it only writes the file; scripts/check-deploy.sh runs it that way and compares the
# result with the PrometheusRule's spec). `spec:` must therefore stay the last top-level key of
# that file, indented by two spaces. The Prometheus image's busybox provides sh, sed and grep.
set -eu

source_file=$1
rules_file=$2
shift 2

sed -e '1,/^spec:/d' -e 's/^  //' "$source_file" > "$rules_file"
if ! grep -q '^groups:' "$rules_file"; then
    echo "entrypoint.sh: no 'spec:' with 'groups:' found in $source_file" >&2
    exit 1
fi

if [ "$#" -gt 0 ]; then
    exec /bin/prometheus "$@"
fi
