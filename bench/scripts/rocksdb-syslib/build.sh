#!/usr/bin/env bash
# Builds `hashlog-bench --features peers-rocksdb` against Debian's prebuilt librocksdb (7.8.3)
# instead of compiling the RocksDB 11.8 sources the rocksdb crate bundles (an hour or more on
# 2 shared cores). The RocksDB measured is then 7.8.3, and the binary names it
# "rocksdb (system lib in ...)". Needs: apt-get install -y libclang-dev librocksdb-dev
# Usage: bench/scripts/rocksdb-syslib/build.sh   (honours CARGO_TARGET_DIR)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
libdir="${ROCKSDB_LIB_DIR:-/usr/lib/x86_64-linux-gnu}"
test -e "$libdir/librocksdb.so" || { echo "no librocksdb.so in $libdir (apt-get install -y librocksdb-dev)" >&2; exit 1; }
target="${CARGO_TARGET_DIR:-$root/target}"
mkdir -p "$target/rocksdb-syslib"
cc -O2 -fPIC -c "$here/shim.c" -o "$target/rocksdb-syslib/shim.o"
cd "$root"
ROCKSDB_LIB_DIR="$libdir" cargo rustc --release -p hashlog-bench --features peers-rocksdb \
  --bin hashlog-bench -- -C link-arg="$target/rocksdb-syslib/shim.o"
echo "built $target/release/hashlog-bench (RocksDB from $libdir)"
