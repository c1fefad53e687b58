/* Link shim for building `hashlog-bench --features peers-rocksdb` against Debian 12's
 * librocksdb 7.8.3 (bench/scripts/rocksdb-syslib/build.sh).
 *
 * rust-rocksdb 0.25 references rocksdb_write_buffer_manager_destroy (added to the C API in
 * RocksDB 8.x) from the drop path of a write buffer manager. The benchmark never creates one,
 * and with 7.8.3 none can exist (rocksdb_write_buffer_manager_create is absent as well, and
 * nothing references it), so this destructor is unreachable; it only satisfies the linker.
 * Do not link it against a RocksDB that has the real function (duplicate symbol). */
void rocksdb_write_buffer_manager_destroy(void *wbm) { (void)wbm; }
