#!/usr/bin/env bash
# Not a kernel mirror: `npm run kernel-check:setup` — what `dmacheck kernel-check` needs, from Debian's
# packages only: QEMU, busybox, cpio, a compiler, the headers of the distribution's cloud kernel, and
# that kernel's image unpacked under .kernel-check/ (never installed on the host, never committed).
# The kernel ABI is resolved from the linux-image-cloud-amd64 metapackage, so the newest one is used.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
arch=${1:-x86_64}
if [ "$arch" != x86_64 ]; then
  echo "kernel-check:setup: --arch $arch: only x86_64 is set up here (arm64 needs a cross compiler and the arm64 headers; see README)" >&2
  exit 2
fi
apt-get update -qq || echo "kernel-check:setup: apt-get update failed; using the package lists already here" >&2
abi=$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/^ *Depends: linux-image-\(.*\)$/\1/p' | head -n 1)
if [ -z "$abi" ]; then
  echo "kernel-check:setup: cannot resolve the kernel ABI from linux-image-cloud-amd64 (apt-cache depends gave nothing)" >&2
  exit 2
fi
echo "kernel-check:setup: kernel $abi"
pkgs=(qemu-system-x86 busybox-static cpio gcc make "linux-headers-$abi")
if ! dpkg -s "${pkgs[@]}" >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}"
fi
dir="$root/.kernel-check/$abi"
if [ ! -f "$dir/image/boot/vmlinuz-$abi" ]; then
  rm -rf "$dir" && mkdir -p "$dir"
  cd "$dir"
  apt-get download "linux-image-$abi"
  dpkg-deb -x linux-image-*.deb image
  rm -f linux-image-*.deb
fi
echo "$abi" > "$root/.kernel-check/abi"
echo "kernel-check:setup: ready (.kernel-check/$abi)"
