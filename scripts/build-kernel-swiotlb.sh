#!/bin/sh
# Build build/kernel-swiotlb.wasm: the Linux kernel's own kernel/dma/swiotlb.c
# and kernel/dma/direct.c, from Debian 12's linux-source-6.1 package, compiled
# to wasm32 against the header shim in kernel-wasm/include and linked with
# kernel-wasm/glue.c, which exports dmacheck's wasm ABI (include/dmacheck.h).
# Also build/kernel-swiotlb-cc.wasm for the cc-guest profile (memory
# encryption, forced swiotlb), which adds kernel/dma/pool.c for dma-direct's
# atomic pools (on the harness's gen_pool: kernel-wasm/include/linux/genalloc.h). See kernel-wasm/README.md.
#
# The kernel source is never part of this repository: it is unpacked from
# /usr/src/linux-source-6.1.tar.xz (installed with apt-get when missing) into
# build/kernel-src/, only the files the build needs. Needs clang and wasm-ld
# (Debian: clang, lld).
set -eu
cd "$(dirname "$0")/.."

TARBALL=/usr/src/linux-source-6.1.tar.xz
SRC=build/kernel-src
CC=${CC:-clang}

if ! command -v "$CC" >/dev/null 2>&1 || ! command -v wasm-ld >/dev/null 2>&1; then
  echo "build-kernel-swiotlb: clang and wasm-ld are needed (apt-get install clang lld)" >&2
  exit 2
fi

if [ ! -f "$TARBALL" ]; then
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y linux-source-6.1 >/dev/null 2>&1 || [ ! -f "$TARBALL" ]; then
    echo "build-kernel-swiotlb: $TARBALL is missing and 'apt-get install -y linux-source-6.1' failed" >&2
    exit 2
  fi
fi

# What is compiled: the .c files, and the kernel headers whose inline code or
# structures the DMA code is made of. Everything else the sources include is
# answered by the shim (kernel-wasm/include), which is searched first.
FILES="
kernel/dma/swiotlb.c
kernel/dma/direct.c
kernel/dma/direct.h
kernel/dma/pool.c
include/linux/swiotlb.h
include/linux/dma-direct.h
include/linux/dma-map-ops.h
include/linux/dma-mapping.h
include/linux/dma-direction.h
include/linux/iommu-helper.h
"
stamp="$SRC/.extracted"
want=$(echo $FILES)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  rm -rf "$SRC"
  mkdir -p "$SRC"
  members=""
  for f in $FILES; do members="$members linux-source-6.1/$f"; done
  # shellcheck disable=SC2086
  tar -xJf "$TARBALL" -C "$SRC" --strip-components=1 $members
  echo "$want" > "$stamp"
fi
mkdir -p build

CFLAGS="--target=wasm32 -O2 -nostdlib -ffreestanding -std=gnu11
  -fno-builtin-memcpy -fno-builtin-memset -fno-builtin-memmove
  -fno-strict-aliasing -fno-strict-overflow -fno-delete-null-pointer-checks
  -Wall -Werror=implicit-function-declaration -Werror=int-conversion -Wno-unused-function -Wno-unused-variable -Wno-unused-but-set-variable
  -Wno-pointer-to-int-cast -Wno-int-to-pointer-cast -Wno-format -Wno-sign-compare
  -Wno-gnu-variable-sized-type-not-at-end -Wno-pointer-sign
  -I kernel-wasm/include -I $SRC/include -I $SRC -I include
  -include kshim/config.h"
LDFLAGS="-Wl,--no-entry -Wl,-z,stack-size=262144"

# MUTANT=copy-short builds build/kernel-swiotlb-copy-short.wasm instead: the
# glue's machine-to-machine memcpy (swiotlb_bounce's copies) one byte short,
# which the suite must catch (kernel-wasm/kernel-swiotlb.test.ts).
if [ "${MUTANT:-}" = copy-short ]; then
  # shellcheck disable=SC2086
  $CC $CFLAGS -DKSHIM_MUTANT_COPY_SHORT $LDFLAGS -o build/kernel-swiotlb-copy-short.wasm \
    kernel-wasm/glue.c $SRC/kernel/dma/swiotlb.c $SRC/kernel/dma/direct.c
  echo "build-kernel-swiotlb: build/kernel-swiotlb-copy-short.wasm (x86-64, bounce copies one byte short)"
  exit 0
fi
# shellcheck disable=SC2086
$CC $CFLAGS $LDFLAGS -o build/kernel-swiotlb.wasm \
  kernel-wasm/glue.c $SRC/kernel/dma/swiotlb.c $SRC/kernel/dma/direct.c
# shellcheck disable=SC2086
$CC $CFLAGS -DKSHIM_CC_GUEST $LDFLAGS -o build/kernel-swiotlb-cc.wasm \
  kernel-wasm/glue.c $SRC/kernel/dma/swiotlb.c $SRC/kernel/dma/direct.c \
  $SRC/kernel/dma/pool.c
echo "build-kernel-swiotlb: build/kernel-swiotlb.wasm (x86-64) and build/kernel-swiotlb-cc.wasm (cc-guest) from Debian's linux-source-6.1"
