#!/usr/bin/env bash
# Install what the viewer tests drive, on a fresh Debian 12 machine (root): Debian's chromium and
# chromium-driver (headless, WebGL on SwiftShader) and, from package-lock.json, the pinned three.js and
# esbuild that build lift3d/viewer/web/static_bundle.js (the committed bundle is checked against a rebuild).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export DEBIAN_FRONTEND=noninteractive
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
cd "$here"
npm ci --no-audit --no-fund --loglevel=error
echo "viewer test clients ready: $(chromium --version 2>/dev/null | head -1)"
