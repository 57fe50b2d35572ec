#!/bin/sh
# Re-vendor the console's JavaScript libraries from the npm registry (docs/console.md).
#
#   sh devtools/console_vendor.sh
#
# Installs the exact versions pinned in chalicelib/static/console/vendor/package.json (with
# its package-lock.json: integrity hashes) into a scratch directory, and copies the files the
# console serves, with each library's licence, into chalicelib/static/console/vendor/.
# No build step: the console loads these files as they are.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENDOR="$ROOT/chalicelib/static/console/vendor"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp "$VENDOR/package.json" "$WORK/"
[ -f "$VENDOR/package-lock.json" ] && cp "$VENDOR/package-lock.json" "$WORK/"
cd "$WORK"
if [ -f package-lock.json ]; then
  npm ci --ignore-scripts --no-audit --no-fund
else
  npm install --ignore-scripts --no-audit --no-fund --save-exact
  cp package-lock.json "$VENDOR/"
fi
cp node_modules/uplot/dist/uPlot.iife.min.js "$VENDOR/uPlot.iife.min.js"
cp node_modules/uplot/dist/uPlot.min.css "$VENDOR/uPlot.min.css"
cp node_modules/uplot/LICENSE "$VENDOR/uPlot.LICENSE.txt"
echo "vendored into $VENDOR:"
ls -l "$VENDOR"
