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
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Python packages for golden files and model fetching (dev only).
PY=${PYTHON:-python3}
if ! "$PY" -c "import gguf, numpy" 2>/dev/null; then
  echo "kiln: installing Python packages: gguf numpy"
  "$PY" -m pip install -q gguf numpy
fi
