#!/usr/bin/env bash
# Rebuilds shared/js/engines.js — NocoBase's expression engines, math.js and formula.js, bundled
# for the embedded QuickJS runtime (shared/src/engines/js.rs) — and shared/js/LICENSES.txt, the
# licences of everything inside it. Both are kept in the repository, so builds need no npm.
#
#   scripts/build-js-engines.sh
#
# Versions are those NocoBase pins (mathjs 15.1.0, @formulajs/formulajs 4.4.9), locked in
# shared/js/package-lock.json; `npm ci` installs exactly them into a folder outside the clone.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
js=$repo/shared/js
work=${HOOKFLOW_JS_WORK:-/var/tmp/hookflow-js-build}

mkdir -p "$work"
cp "$js/package.json" "$js/package-lock.json" "$js/entry.js" "$work/"
(cd "$work" && npm ci --no-audit --no-fund --loglevel=error)
"$work/node_modules/.bin/esbuild" "$work/entry.js" --bundle --format=iife --target=es2020 --minify \
  --legal-comments=none --log-level=warning --outfile="$js/engines.js"

# The licence of every package the bundle holds (all dependencies, not the build tool).
{
  echo "shared/js/engines.js bundles the following packages; their licences follow."
  echo
  (cd "$work" && node -e '
    const lock = require("./package-lock.json");
    for (const [path, info] of Object.entries(lock.packages)) {
      if (!path || info.dev) continue;
      console.log(path.replace(/^node_modules\//, "") + "\t" + info.version + "\t" + (info.license || "?"));
    }' | sort) | while IFS=$'\t' read -r name version license; do
    echo "================================================================================"
    echo "$name $version ($license)"
    echo "================================================================================"
    found=$(find "$work/node_modules/$name" -maxdepth 1 -iname 'licen[cs]e*' | head -n 1)
    if [ -n "$found" ]; then cat "$found"; else echo "(no licence file in the package; $license per its package.json)"; fi
    echo
  done
} > "$js/LICENSES.txt"
echo "built $(du -h "$js/engines.js" | cut -f1) shared/js/engines.js and shared/js/LICENSES.txt"
