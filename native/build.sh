#!/bin/sh
# Rebuild lepton's WebAssembly SIMD kernels (native/lepton_kernels.c) with Debian's clang and lld:
#   apt-get install -y --no-install-recommends clang lld llvm
# Writes native/lepton_kernels.wasm (imports a plain memory: tfjs's single-threaded build),
# native/lepton_kernels_shared.wasm (imports a shared memory: tfjs's threaded build), the same two with
# relaxed SIMD's fused multiply-add (*_relaxed.wasm; native/relax.js rewrites clang 14's prototype opcode
# into the standard one) and src/backend/wasm_native_binary.ts (all four, base64), and checks that the
# modules own no memory: no data section, one import (env.memory), and no instruction touching a global
# (the stack pointer).
# Compile and link are separate steps: clang's driver would run a binaryen wasm-opt found on PATH
# (emscripten's) without the SIMD feature enabled.
set -eu
cd "$(dirname "$0")"
CLANG=${CLANG:-clang}
WASMLD=${WASMLD:-wasm-ld}
CFLAGS="--target=wasm32 -msimd128 -O3 -nostdlib -fno-builtin -ffp-contract=off"
LDFLAGS="--no-entry --import-memory --strip-all -z stack-size=0"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$CLANG $CFLAGS -c -o "$tmp/plain.o" lepton_kernels.c
$WASMLD $LDFLAGS -o lepton_kernels.wasm "$tmp/plain.o"
$CLANG $CFLAGS -matomics -mbulk-memory -c -o "$tmp/shared.o" lepton_kernels.c
$WASMLD $LDFLAGS --shared-memory --max-memory=4294967296 -o lepton_kernels_shared.wasm "$tmp/shared.o"
OBJDUMP=${OBJDUMP:-$(command -v llvm-objdump || command -v llvm-objdump-14 || true)}
if [ -z "$OBJDUMP" ]; then echo "llvm-objdump not found (apt-get install llvm, or set OBJDUMP): needed to place the relaxed-SIMD rewrite" >&2; exit 1; fi
RELAXED="-mrelaxed-simd -DLEPTON_RELAXED"
$CLANG $CFLAGS $RELAXED -c -o "$tmp/plain_relaxed.o" lepton_kernels.c
$WASMLD $LDFLAGS -o lepton_kernels_relaxed.wasm "$tmp/plain_relaxed.o"
$CLANG $CFLAGS $RELAXED -matomics -mbulk-memory -c -o "$tmp/shared_relaxed.o" lepton_kernels.c
$WASMLD $LDFLAGS --shared-memory --max-memory=4294967296 -o lepton_kernels_shared_relaxed.wasm "$tmp/shared_relaxed.o"
for m in lepton_kernels.wasm lepton_kernels_shared.wasm lepton_kernels_relaxed.wasm lepton_kernels_shared_relaxed.wasm; do
  if "$OBJDUMP" -d "$m" | grep -q "global\."; then echo "$m touches a global (stack pointer?): it would write into tfjs's heap" >&2; exit 1; fi
done
node relax.js "$OBJDUMP" lepton_kernels_relaxed.wasm
node relax.js "$OBJDUMP" lepton_kernels_shared_relaxed.wasm
node check_and_embed.js lepton_kernels.wasm lepton_kernels_shared.wasm lepton_kernels_relaxed.wasm lepton_kernels_shared_relaxed.wasm ../src/backend/wasm_native_binary.ts
