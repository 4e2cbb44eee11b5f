#!/usr/bin/env bash
# Installs every Debian 12 package clawvisor needs to build, test and run. Idempotent.
# Usage: sudo ops/install-deps.sh            (build + test + run)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git clang-format ccache
  libprotobuf-dev protobuf-compiler
  librocksdb-dev
  librdkafka-dev
  libssl-dev
  libboost-dev libboost-system-dev
  libargon2-dev
  argon2 oathtool               # independent checks of password hashes and TOTP codes (#4)
  libgtest-dev libgmock-dev
  python3 python3-pip python3-yaml python3-venv curl ca-certificates
  openssl                       # independent TLS client and certificate checks (#4, transport)
  # microVMs (#6): QEMU's microvm machine, the packaged kernel the test guest boots (it only
  # places files under /boot), busybox for the guest's initramfs, mkfs for data disks
  qemu-system-x86 qemu-utils busybox-static linux-image-cloud-amd64 cpio e2fsprogs kmod
  debootstrap                   # the production guest image's Debian root (ops/guest/build-openclaw.sh)
  cryptsetup-bin                # an independent reader of the encrypted data disks' LUKS headers (#16)
  libslirp-dev                  # the VMs' user-mode network, one helper per VM (#14, design D9)
  # Kafka (#5): a real broker for tests, fetched by ops/kafka/kafka.sh with Maven
  openjdk-17-jre-headless maven
  clang libclang-rt-14-dev   # the CSV writer's libFuzzer target (tests/fuzz)
  clang-19 libclang-rt-19-dev   # the HTTP request fuzz target (tests/fuzz): its C++23 reads GCC 12's <expected>
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# An npm client for ops/guest/build-openclaw.sh (it only downloads and installs, under the pinned
# Node it fetches): the machine's own if it has one, else Debian's.
if ! command -v npm >/dev/null; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm
fi

# Python tools the tests use (the OpenAPI validator), installed for the python3 on PATH.
python_tools=(openapi-spec-validator==0.9.0)
if ! python3 -c "import openapi_spec_validator, yaml" 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check "${python_tools[@]}" pyyaml ||
    python3 -m pip install --quiet --disable-pip-version-check --break-system-packages \
      "${python_tools[@]}" pyyaml
fi
