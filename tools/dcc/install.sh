#!/usr/bin/env bash
# Install the third-party clients that `pytest -m dcc` drives, on a fresh Debian 12 machine (root):
#   Blender 3.4 (+ python3-numpy for its glTF importer), Node.js/npm, and from package-lock.json the
#   Khronos glTF-Validator and PlayCanvas splat-transform into tools/dcc/node_modules.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export DEBIAN_FRONTEND=noninteractive
missing=()
command -v blender >/dev/null || missing+=(blender python3-numpy)
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" python3-numpy
fi
cd "$here"
npm ci --no-audit --no-fund --loglevel=error
node -e 'import("gltf-validator").then(() => import("@playcanvas/splat-transform")).then(() => console.log("dcc clients ready"))'
