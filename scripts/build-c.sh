#!/bin/sh
# Build the C example backend to wasm32 (build/c-direct.wasm) and the
# variants with one injected bug each (build/c-direct-<bug>.wasm) that its
# test must see caught. Needs clang and wasm-ld (Debian: clang, lld).
set -eu
cd "$(dirname "$0")/.."
CC=${CC:-clang}
if ! command -v "$CC" >/dev/null 2>&1; then
  echo "build-c: $CC not found: install clang and lld (apt-get install clang lld)" >&2
  exit 2
fi
mkdir -p build
FLAGS="--target=wasm32 -O2 -nostdlib -ffreestanding -Wall -Wextra -Werror -I include -Wl,--no-entry"
SRC=examples/c-direct/dma_direct.c
$CC $FLAGS -o build/c-direct.wasm $SRC
for bug in no-copy-back no-invalidate bounce-short no-zero not-limited; do
  macro=BUG_$(echo "$bug" | tr 'a-z-' 'A-Z_')
  $CC $FLAGS -D"$macro" -o "build/c-direct-$bug.wasm" $SRC
done
echo "build-c: build/c-direct.wasm and 5 bug variants"
