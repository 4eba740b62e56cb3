#!/usr/bin/env bash
# Rebuild the dashboard's WebGL scatter library from the npm registry at a pinned version.
#
#   bash scripts/build_regl_scatterplot.sh
#
# Needs Node.js and npm (only here, never at install time). Writes one self-contained ES
# module, src/reprdynamics/server/static/vendor/regl-scatterplot.js, and the licences of
# everything bundled into it, .../vendor/regl-scatterplot.LICENSE.txt. The exact versions
# come from scripts/vendor/package-lock.json, so a rebuild gives the same file.
set -euo pipefail

REGL_SCATTERPLOT=1.16.0
ESBUILD=0.28.2

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
out="$root/src/reprdynamics/server/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp "$here/vendor/package.json" "$work/"
[ -f "$here/vendor/package-lock.json" ] && cp "$here/vendor/package-lock.json" "$work/"
cd "$work"
grep -q "\"regl-scatterplot\": \"$REGL_SCATTERPLOT\"" package.json
grep -q "\"esbuild\": \"$ESBUILD\"" package.json
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --ignore-scripts=false
else
  npm install --no-audit --no-fund
  cp package-lock.json "$here/vendor/package-lock.json"
fi

cat > entry.js <<'JS'
export { default, createRenderer } from "regl-scatterplot";
JS
mkdir -p "$out"
npx --no-install esbuild entry.js --bundle --format=esm --minify --target=es2020 \
  --legal-comments=none --outfile="$out/regl-scatterplot.js"

# The licences of every package that ended up in the bundle.
node - "$out/regl-scatterplot.LICENSE.txt" <<'JS'
const fs = require("fs");
const path = require("path");
const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
const parts = [];
for (const [where, meta] of Object.entries(lock.packages)) {
  if (!where || meta.dev) continue;
  const dir = path.resolve(where);
  const file = fs.readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
  const text = file ? fs.readFileSync(path.join(dir, file), "utf8").trim() : `License: ${meta.license}`;
  parts.push(`${"=".repeat(78)}\n${where.replace(/^node_modules\//, "")} ${meta.version} (${meta.license})\n${"=".repeat(78)}\n${text}\n`);
}
fs.writeFileSync(process.argv[2], `Bundled into regl-scatterplot.js by scripts/build_regl_scatterplot.sh\n\n${parts.join("\n")}`);
JS
echo "wrote $out/regl-scatterplot.js ($(wc -c < "$out/regl-scatterplot.js") bytes)"
