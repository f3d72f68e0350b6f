#!/usr/bin/env bash
# Copy the pinned front-end libraries from npm into vendor/, which is committed and embedded in
# the binary: building proxctl needs no npm and no network. Run after changing package.json;
# `--check` (used by the test suite) only compares and fails on any difference.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp package.json package-lock.json "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --silent)
files=("htmx.org/dist/htmx.min.js:htmx.min.js" "htmx.org/LICENSE:htmx.LICENSE")
for f in "${files[@]}"; do
  src="$work/node_modules/${f%%:*}"
  dst="vendor/${f##*:}"
  if [ "${1:-}" = "--check" ]; then
    cmp "$src" "$dst" || { echo "$dst differs from npm's ${f%%:*}: run $0" >&2; exit 1; }
  else
    cp "$src" "$dst"
  fi
done
echo "vendor/ matches package-lock.json"
