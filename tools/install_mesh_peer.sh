#!/usr/bin/env bash
# Install the CPU OpenGL peer of benchmarks/mesh_raster.py on Debian 12 (not a lift3d dependency):
#   Mesa's EGL + llvmpipe from apt (needs root; skipped when already installed) and moderngl into the venv.
# Usage: tools/install_mesh_peer.sh [path/to/venv]   (default: .venv at the repository root)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$root/.venv}"
missing=()
for pkg in libegl1 libgl1-mesa-dri; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
"$venv/bin/pip" install -q "moderngl==5.13.0"
"$venv/bin/python" - <<'PY'
import moderngl

ctx = moderngl.create_standalone_context(backend="egl", require=450)
print("mesh peer ready:", ctx.info["GL_RENDERER"], ctx.info["GL_VERSION"])
PY
