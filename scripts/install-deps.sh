#!/usr/bin/env bash
# Installs what kiln needs to build, test and fetch models on a Debian 12 machine.
# Safe to run again: apt and pip skip what is already there.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  llvm-22-dev                                    # code generation (LLVM 22, ORC JIT)
  ocl-icd-opencl-dev opencl-c-headers pocl-opencl-icd clinfo   # OpenCL back end, run on PoCL
  libgtest-dev libgmock-dev                      # tests
  nlohmann-json3-dev libcli11-dev libfmt-dev libpcre2-dev
  python3-pip
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "kiln: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  # Through env: sudo resets the environment, so a plain assignment before sudo would be lost.
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Python packages for a few CLI tests and the golden-file scripts: gguf pinned to the version
# that made the committed goldens (tests/data/*/manifest.txt). numpy comes with it, in whatever
# version satisfies gguf: a numpy already there (Debian's python3-numpy, which other Debian
# packages are built against) is kept rather than shadowed by a newer one.
PY=${PYTHON:-python3}
PIP_PACKAGES=(gguf==0.19.0)
if ! "$PY" - "${PIP_PACKAGES[@]}" 2>/dev/null <<'CHECK'
import importlib.metadata, sys
for pin in sys.argv[1:]:
    name, version = pin.split("==")
    assert importlib.metadata.version(name) == version
CHECK
then
  echo "kiln: installing Python packages: ${PIP_PACKAGES[*]}"
  # Debian's own python3 refuses pip installs (PEP 668, "externally-managed-environment"). The
  # tests run plain python3, so the packages must be importable there, not in a venv: outside a
  # venv, such a Python gets --break-system-packages (pip then installs to /usr/local or
  # ~/.local, never over Debian's files). pyenv and venv Pythons need nothing.
  PIP_FLAGS=()
  if "$PY" -c 'import os, sys, sysconfig
managed = os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))
sys.exit(0 if managed and sys.prefix == sys.base_prefix else 1)'; then
    PIP_FLAGS+=(--break-system-packages)
  fi
  "$PY" -m pip install -q --disable-pip-version-check "${PIP_FLAGS[@]}" "${PIP_PACKAGES[@]}"
fi
