import type { Table } from 'apache-arrow';
import { tableToIPC } from 'apache-arrow';
import { Compression, Table as WasmTable, WriterPropertiesBuilder, writeParquet } from 'parquet-wasm';

/**
 * Parquet bytes of an Arrow table, zstd-compressed, through parquet-wasm (Rust's parquet crate
 * in WebAssembly): the table crosses into WebAssembly memory as an Arrow IPC stream.
 *
 * Dictionary encoding is off: on 10,000 market-data rows it made the file 47% larger and its
 * encoding 64% slower than plain values under zstd (22.5 ms, 382 KB against 13.7 ms, 260 KB),
 * since prices rarely repeat and zstd finds what repeats in the text columns by itself.
 */
export function toParquet(table: Table): Uint8Array {
  // WriterProperties are consumed by writeParquet, so each call builds its own.
  const properties = new WriterPropertiesBuilder()
    .setCompression(Compression.ZSTD)
    .setDictionaryEnabled(false)
    .setCreatedBy('tierflow')
    .build();
  return writeParquet(WasmTable.fromIPCStream(tableToIPC(table, 'stream')), properties);
}
