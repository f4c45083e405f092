import type { Table } from 'apache-arrow';
import { tableToIPC } from 'apache-arrow';
import { Compression, Table as WasmTable, WriterPropertiesBuilder, writeParquet } from 'parquet-wasm';

/**
 * Parquet bytes of an Arrow table, zstd-compressed, through parquet-wasm (Rust's parquet crate
 * in WebAssembly): the table crosses into WebAssembly memory as an Arrow IPC stream.
 */
export function toParquet(table: Table): Uint8Array {
  // WriterProperties are consumed by writeParquet, so each call builds its own.
  const properties = new WriterPropertiesBuilder()
    .setCompression(Compression.ZSTD)
    .setCreatedBy('tierflow')
    .build();
  return writeParquet(WasmTable.fromIPCStream(tableToIPC(table, 'stream')), properties);
}
