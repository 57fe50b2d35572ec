#!/usr/bin/env bash
# Build a real Prebid.js bundle with Prebid's rtdModule, the rtdcs RTD submodule
# (integrations/prebid/rtdcsRtdProvider.js) and one OpenRTB bidder adapter (openx), for the
# Prebid e2e tests. A developer tool: CI does not run it; CI uses the committed bundles in
# tests/fixtures/prebid/.
#
#   devtools/prebid/build_prebid.sh <version> [--test] [--keep]
#     <version>  a prebid.js version on the npm registry, or a dist-tag ("latest")
#     --test     also lint the module and run integrations/prebid/rtdcsRtdProvider_spec.js with
#                Prebid's own runner (gulp test --file ..., karma + headless Chromium)
#     --keep     reuse an existing work tree's node_modules (skip npm install when present)
#
# How: Prebid's own source comes from the npm registry tarball (`npm pack prebid.js@<v>`),
# which ships the gulpfile, the webpack/babel configs, modules/ and test/ (no lockfile, so
# devDependencies are resolved afresh by `npm install`). The submodule is copied in as
# modules/rtdcsRtdProvider.js and listed under parentModules.rtdModule in
# modules/.submodules.json (what makes gulp add rtdModule for it), then
#   npx gulp build --modules=rtdModule,rtdcsRtdProvider,openxBidAdapter
# writes build/dist/prebid.js, copied to tests/fixtures/prebid/prebid-<version>.js, and
# tests/fixtures/prebid/manifest.json gets (or replaces) the entry for that version.
#
# Needs: node >= 20 and npm (the npm registry only), python3; for --test, Chromium
# (CHROME_BIN, default /usr/bin/chromium). Works in $PREBID_BUILD_DIR (default
# /tmp/prebid-build/<version>), never in the repo. Browser downloads by devDependencies
# (puppeteer) are skipped: PUPPETEER_SKIP_DOWNLOAD=1 and `npm install --ignore-scripts`.
# Changes to Prebid's tree besides our module, all in the temp copy: a few dev dependencies
# pinned back (step 3 says which and why); for --test, a .gitignore (npm drops it; Prebid's
# eslint config reads it), a .mocharc.json (30 s mocha timeout for Prebid's build-logic tests)
# and karma set to listen on 127.0.0.1 and run Chromium headless with --no-sandbox (root).
# Built and tested this way: 11.36.0 (latest), 10.11.0, 9.46.0 (the newest 9.x this registry has).
set -euo pipefail

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[[ $# -ge 1 ]] || usage
REQUESTED="$1"; shift
RUN_TEST=0; KEEP=0
for arg in "$@"; do
  case "$arg" in
    --test) RUN_TEST=1 ;;
    --keep) KEEP=1 ;;
    *) usage ;;
  esac
done

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
MODULE_SRC="$REPO/integrations/prebid/rtdcsRtdProvider.js"
SPEC_SRC="$REPO/integrations/prebid/rtdcsRtdProvider_spec.js"
OUT_DIR="$REPO/tests/fixtures/prebid"
MODULES="rtdModule,rtdcsRtdProvider,openxBidAdapter"
BIDDER="openx"
BIDDER_MODULE="openxBidAdapter"

VERSION="$(npm view "prebid.js@$REQUESTED" version | tail -n 1)"
[[ -n "$VERSION" ]] || { echo "no prebid.js version for '$REQUESTED'" >&2; exit 1; }
WORK="${PREBID_BUILD_DIR:-/tmp/prebid-build}/$VERSION"
SRC="$WORK/src"
echo ">> prebid.js $VERSION in $WORK"
mkdir -p "$WORK" "$OUT_DIR"

# 1. Prebid's source, from the registry tarball.
(cd "$WORK" && npm pack "prebid.js@$VERSION" --json > pack.json)
TARBALL="$WORK/prebid.js-$VERSION.tgz"
if [[ $KEEP -eq 1 && -d "$SRC/node_modules" ]]; then
  echo ">> --keep: reusing $SRC/node_modules"
  tar xzf "$TARBALL" -C "$SRC" --strip-components=1
else
  rm -rf "$SRC"; mkdir -p "$SRC"
  tar xzf "$TARBALL" -C "$SRC" --strip-components=1
fi
for f in gulpfile.js webpack.conf.js modules/.submodules.json; do
  [[ -f "$SRC/$f" ]] || { echo "the tarball lacks $f: this script cannot build it" >&2; exit 1; }
done

# 2. Our submodule, registered as an rtdModule submodule.
cp "$MODULE_SRC" "$SRC/modules/rtdcsRtdProvider.js"
python3 - "$SRC/modules/.submodules.json" <<'EOF'
import json, sys
path = sys.argv[1]
with open(path) as f:
    doc = json.load(f)
rtd = doc["parentModules"]["rtdModule"]
if "rtdcsRtdProvider" not in rtd:
    rtd.append("rtdcsRtdProvider")
with open(path, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
EOF

# 3. Prebid's dev dependencies (npm ci when the tarball carries a lockfile).
cd "$SRC"
if [[ $KEEP -eq 1 && -d node_modules ]]; then
  :
elif [[ -f package-lock.json ]]; then
  PUPPETEER_SKIP_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund
else
  PUPPETEER_SKIP_DOWNLOAD=1 npm install --ignore-scripts --no-audit --no-fund
fi
# The npm tarball has no lockfile, so `npm install` takes the newest versions that Prebid's
# ranges allow; three of them broke the build or the tests here and are pinned back, with
# `npm install --no-save`, in one command so that none undoes another:
#  - typescript: "^5.8.2" resolves to 5.9+, whose stricter lib.dom typings (Uint8Array<
#    ArrayBufferLike> is no BufferSource) fail `tsc` on Prebid's own modules/encypherRtdProvider.ts
#    (11.36.0). Pinned to the minor that package.json names (~5.8.2), as Prebid's lockfile does.
#  - webpack, Prebid < 10: with webpack 5.113, Prebid 9.46.0's karma test bundle runs
#    modules/rtdModule/index.js before test/helpers/prebidGlobal.js ("Cannot read properties of
#    undefined (reading 'push')" in registerModule), for Prebid's own specs too
#    (a1MediaRtdProvider_spec.js); webpack 5.99.9 (mid-2025, the 9.x era) runs them.
#  - anything the build and test configs require that does not resolve (9.x: terser-webpack-
#    plugin, which it only had through webpack, and webpack >= 5.113 no longer depends on).
PINS=()
TS_RANGE="$(node -p "(require('./package.json').devDependencies || {}).typescript || ''")"
if [[ "$TS_RANGE" =~ ^\^([0-9]+\.[0-9]+\.[0-9]+)$ ]]; then
  PINS+=("typescript@~${BASH_REMATCH[1]}")
fi
if [[ "${VERSION%%.*}" -lt 10 ]]; then
  PINS+=("webpack@${PREBID9_WEBPACK:-5.99.9}" "terser-webpack-plugin@^5")
fi
pin() {
  echo ">> npm install --no-save $*"
  PUPPETEER_SKIP_DOWNLOAD=1 npm install --no-save --ignore-scripts --no-audit --no-fund "$@"
}
[[ ${#PINS[@]} -eq 0 ]] || pin "${PINS[@]}"
MISSING="$(node -e '
  const fs = require("fs"); const {isBuiltin} = require("module");
  const files = ["webpack.conf.js", "webpack.common.js", "gulpfile.js", "gulpHelpers.js",
    "gulp.precompilation.js", "babelConfig.js", "karma.conf.maker.js", "karmaRunner.js"];
  const names = new Set();
  for (const f of files.filter(f => fs.existsSync(f))) {
    for (const m of fs.readFileSync(f, "utf8").matchAll(/require\(\x27([^\x27.][^\x27]*)\x27\)/g)) {
      const name = m[1].startsWith("@") ? m[1].split("/").slice(0, 2).join("/") : m[1].split("/")[0];
      if (isBuiltin(name)) continue;
      try { require.resolve(m[1], {paths: [process.cwd()]}); } catch (e) { names.add(name); }
    }
  }
  console.log([...names].join(" "));
')"
# shellcheck disable=SC2086
[[ -z "$MISSING" ]] || pin "${PINS[@]}" $MISSING
echo ">> toolchain: webpack $(node -p "require('webpack/package.json').version")," \
  "typescript $(node -p "try { require('typescript/package.json').version } catch (e) { 'none' }")"

# 4. The bundle.
BUILD_CMD="npx gulp build --modules=$MODULES"
echo ">> $BUILD_CMD"
$BUILD_CMD
BUNDLE="$SRC/build/dist/prebid.js"
[[ -s "$BUNDLE" ]] || { echo "no $BUNDLE" >&2; exit 1; }
grep -q 'rtdcs' "$BUNDLE" || { echo "the bundle has no rtdcs submodule" >&2; exit 1; }
OUT_FILE="prebid-$VERSION.js"
cp "$BUNDLE" "$OUT_DIR/$OUT_FILE"
cp "$SRC/LICENSE" "$OUT_DIR/LICENSE"

# The endpoint the adapter posts its OpenRTB request to, read from the adapter's source.
ENDPOINT="$(grep -oE "REQUEST_URL *= *'[^']+'" "$SRC/modules/$BIDDER_MODULE.js" | sed -E "s/.*'([^']+)'/\1/" | head -n 1)"
[[ -n "$ENDPOINT" ]] || { echo "could not read the $BIDDER endpoint" >&2; exit 1; }
NODE_VERSION="$(node --version)"; NPM_VERSION="$(npm --version)"
WEBPACK_VERSION="$(node -p "require('webpack/package.json').version")"
TS_VERSION=""; [[ -z "$TS_RANGE" ]] || TS_VERSION="$(node -p "require('typescript/package.json').version")"
PINNED="${PINS[*]:-} ${MISSING:-}"

# 5. The manifest entry.
python3 - "$OUT_DIR/manifest.json" "$OUT_DIR/$OUT_FILE" "$WORK/pack.json" <<EOF
import datetime, hashlib, json, os, sys
manifest_path, bundle_path, pack_path = sys.argv[1:4]
with open(pack_path) as f:
    pack = json.load(f)[0]
data = open(bundle_path, "rb").read()
entry = {
    "version": "$VERSION",
    "file": os.path.basename(bundle_path),
    "bytes": len(data),
    "sha256": hashlib.sha256(data).hexdigest(),
    "npm": {
        "package": "prebid.js@$VERSION",
        "tarball": "https://registry.npmjs.org/prebid.js/-/prebid.js-$VERSION.tgz",
        "integrity": pack["integrity"],
        "shasum": pack["shasum"],
    },
    "source": "npm registry tarball (npm pack prebid.js@$VERSION); Prebid's own gulp build",
    "build_command": "$BUILD_CMD",
    "build_script": "devtools/prebid/build_prebid.sh $VERSION",
    "modules": "$MODULES".split(","),
    "rtd_submodule": {"name": "rtdcs", "file": "modules/rtdcsRtdProvider.js",
                      "from": "integrations/prebid/rtdcsRtdProvider.js"},
    "bidder": {"code": "$BIDDER", "module": "$BIDDER_MODULE", "ortb_converter": True,
               "endpoint": "$ENDPOINT", "method": "POST",
               "transport": "window.fetch (Prebid's ajax), JSON body; Playwright's page.route sees it",
               "body": "OpenRTB 2.x JSON; ortb2 first-party data, including user.data, goes to the request's user.data"},
    "global": "pbjs",
    "process_queue": "automatic: the bundle ends with pbjs.processQueue() (built without --manualEnable)",
    "built_with": {"node": "$NODE_VERSION", "npm": "$NPM_VERSION", "webpack": "$WEBPACK_VERSION",
                   "typescript": "$TS_VERSION" or None,
                   "dev_dependencies": "npm install (the tarball has no lockfile): newest in Prebid's ranges, "
                                       "except these, pinned by the script: " + ("$PINNED".strip() or "none")},
    "date": datetime.date.today().isoformat(),
}
manifest = {"license": "LICENSE (Prebid.js, Apache-2.0, from the npm tarball)", "bundles": []}
if os.path.exists(manifest_path):
    with open(manifest_path) as f:
        manifest = json.load(f)
bundles = [b for b in manifest.get("bundles", []) if b.get("version") != entry["version"]]
bundles.append(entry)
def key(b):
    return tuple(int(x) for x in b["version"].split("-")[0].split("."))
manifest["bundles"] = sorted(bundles, key=key, reverse=True)
with open(manifest_path, "w") as f:
    json.dump(manifest, f, indent=2)
    f.write("\n")
print(">> %s: %d bytes, sha256 %s" % (entry["file"], entry["bytes"], entry["sha256"]))
EOF

# 6. Optionally: Prebid's lint on the module and its unit tests with Prebid's own runner.
if [[ $RUN_TEST -eq 1 ]]; then
  mkdir -p test/spec/modules
  cp "$SPEC_SRC" test/spec/modules/rtdcsRtdProvider_spec.js
  # npm leaves .gitignore out of the tarball; Prebid's eslint.config.js reads it.
  [[ -f .gitignore ]] || printf 'node_modules/\nbuild/\ndist/\n.cache/\ncoverage/\n' > .gitignore
  echo ">> npx eslint modules/rtdcsRtdProvider.js test/spec/modules/rtdcsRtdProvider_spec.js"
  npx eslint modules/rtdcsRtdProvider.js test/spec/modules/rtdcsRtdProvider_spec.js
  # Karma: listen on 127.0.0.1 only, and headless Chromium as root needs --no-sandbox (Prebid 11
  # adds it for root, 9.x only inside Docker); no background networking on a closed network.
  python3 - karma.conf.maker.js <<'EOF'
import sys
path = sys.argv[1]
src = open(path).read()
anchor = "setBrowsers(config, browserstack);"
patch = anchor + """
  // rtdcs build_prebid.sh: local runs only
  config.listenAddress = '127.0.0.1';
  config.hostname = '127.0.0.1';
  if (!browserstack) {
    config.customLaunchers = Object.assign({}, config.customLaunchers, {
      ChromeRtdcs: {base: 'ChromeHeadless', flags: ['--no-sandbox', '--disable-gpu',
        '--disable-background-networking', '--disable-component-update', '--disable-sync']}
    });
    config.browsers = ['ChromeRtdcs'];
  }"""
if "rtdcs build_prebid.sh" not in src:
    assert src.count(anchor) == 1, "karma.conf.maker.js: no single " + anchor
    open(path, "w").write(src.replace(anchor, patch))
EOF
  # Prebid 11's `gulp test` also runs its own build-logic tests with plain mocha, whose 2 s
  # default timeout one of them (augmentationReachable, a tsc run) overran on a 2-core machine.
  [[ -e .mocharc.json ]] || echo '{"timeout": 30000}' > .mocharc.json
  export CHROME_BIN="${CHROME_BIN:-/usr/bin/chromium}"
  echo ">> CHROME_BIN=$CHROME_BIN npx gulp test --nolint --file test/spec/modules/rtdcsRtdProvider_spec.js"
  npx gulp test --nolint --file test/spec/modules/rtdcsRtdProvider_spec.js
fi
echo ">> done: $OUT_DIR/$OUT_FILE"
