import type { Change } from '../../src/core/index.ts';
import { validatorFor } from '../../src/core/index.ts';
import { marketData } from '../../src/datasets/index.ts';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  Bool,
  DateDay,
  Decimal,
  Field,
  Float64,
  Int32,
  Int64,
  RecordBatch,
  Schema,
  Struct,
  Table,
  TimeUnit,
  Timestamp,
  Utf8,
  makeData,
  tableToIPC,
  vectorFromArray,
} from 'apache-arrow';
import type { Data, DataType } from 'apache-arrow';
import { Compression, Table as WasmTable, WriterPropertiesBuilder, writeParquet } from 'parquet-wasm';
import type { ColumnDef, Dataset } from '../../src/core/index.ts';
import { arrowSchema, arrowType, timestampToMicros } from '../../src/core/index.ts';
import type { ManifestFile } from '../../src/lake/manifest.ts';
import { readManifest, writeManifest } from '../../src/lake/manifest.ts';

/**
 * A stand-in for the lake writer, for reader and reconciliation tests: one record batch into one
 * zstd Parquet file at the layout the writer produces, optionally committed to the manifest.
 * Values come in tierflow's normalised forms (timestamps as ISO text with six fractional digits,
 * decimals as text, int64 as bigint, dates as YYYY-MM-DD) and json as the text the lake stores.
 */
export interface LakeRecord {
  op?: 'c' | 'u' | 'd' | 'r';
  position: bigint | number;
  values: Readonly<Record<string, unknown>>;
  ingestedAt?: string;
}

export interface LakeFileOptions {
  /** Leave the file out of the manifest, as a crash between write and commit would. Default true. */
  commit?: boolean;
  /** The dataset columns the file carries (an older schema version has fewer). Default: all. */
  columns?: readonly ColumnDef[];
  schemaVersion?: number;
}

export async function writeLakeFile(
  root: string,
  dataset: Dataset<unknown, unknown>,
  records: readonly LakeRecord[],
  options: LakeFileOptions = {},
): Promise<ManifestFile> {
  const first = records[0];
  if (!first) throw new Error('writeLakeFile: no records');
  const columns = options.columns ?? dataset.columns;
  const schemaVersion = options.schemaVersion ?? dataset.version;
  const fields: Field[] = [];
  const data: Data[] = [];
  // The dataset's own Arrow fields (with their metadata, e.g. json's extension name), made
  // nullable apart from key and event time, since a delete row carries only those.
  const declared = arrowSchema(dataset);
  for (const col of columns) {
    const required = dataset.primaryKey.includes(col.name) || col.name === dataset.eventTime;
    const field = declared.fields.find((f) => f.name === col.name);
    fields.push(new Field(col.name, arrowType(col), !required, field?.metadata));
    data.push(
      columnData(
        col,
        records.map((r) => r.values[col.name] ?? null),
      ),
    );
  }
  const meta: [string, DataType, (r: LakeRecord) => unknown][] = [
    ['_op', new Utf8(), (r) => r.op ?? 'c'],
    ['_position', new Int64(), (r) => BigInt(r.position)],
    [
      '_ingested_at',
      new Timestamp(TimeUnit.MICROSECOND, 'UTC'),
      (r) => r.ingestedAt ?? '2024-01-01T00:00:00.000000Z',
    ],
    ['_schema_version', new Int32(), () => schemaVersion],
  ];
  for (const [name, type, get] of meta) {
    fields.push(new Field(name, type, false));
    data.push(dataOf(type, records.map(get)));
  }
  const schema = new Schema(fields);
  const batch = new RecordBatch(
    schema,
    makeData({ type: new Struct(fields), length: records.length, nullCount: 0, children: data }),
  );
  const wasmTable = WasmTable.fromIPCStream(tableToIPC(new Table(schema, [batch]), 'stream'));
  const bytes = writeParquet(
    wasmTable,
    new WriterPropertiesBuilder().setCompression(Compression.ZSTD).build(),
  );

  const positions = records.map((r) => BigInt(r.position));
  const lo = positions.reduce((a, b) => (a < b ? a : b));
  const hi = positions.reduce((a, b) => (a > b ? a : b));
  const times = records.map((r) => String(r.values[dataset.eventTime])).sort();
  const day = times[0]!.slice(0, 10);
  const [y, m, d] = day.split('-');
  const relative = path.join(
    `year=${y}`,
    `month=${m}`,
    `day=${d}`,
    `${dataset.name}+${String(lo).padStart(20, '0')}+${String(hi).padStart(20, '0')}.parquet`,
  );
  const datasetDir = path.join(root, dataset.name);
  await mkdir(path.dirname(path.join(datasetDir, relative)), { recursive: true });
  await writeFile(path.join(datasetDir, relative), bytes);
  const file: ManifestFile = {
    path: relative,
    partition: day,
    rows: records.length,
    bytes: bytes.byteLength,
    firstPosition: String(lo),
    lastPosition: String(hi),
    minEventTime: times[0]!,
    maxEventTime: times[times.length - 1]!,
    schemaVersion,
    committedAt: new Date().toISOString(),
  };
  if (options.commit ?? true) {
    const manifest = await readManifest(datasetDir, dataset.name);
    manifest.files.push(file);
    manifest.version += 1;
    manifest.schemaVersion = Math.max(manifest.schemaVersion, schemaVersion);
    const last = manifest.lastPosition === null ? hi : BigInt(manifest.lastPosition);
    manifest.lastPosition = String(last > hi ? last : hi);
    await writeManifest(datasetDir, manifest);
  }
  return file;
}

function columnData(col: ColumnDef, values: readonly unknown[]): Data {
  return dataOf(arrowType(col), values);
}

/** Arrow data built from raw buffers, so microseconds, 128-bit decimals and -0 survive exactly. */
function dataOf(type: DataType, values: readonly unknown[]): Data {
  const length = values.length;
  const nullBitmap = new Uint8Array(Math.ceil(length / 8));
  let nullCount = 0;
  values.forEach((v, i) => {
    if (v === null || v === undefined) nullCount++;
    else nullBitmap[i >> 3]! |= 1 << (i & 7);
  });
  const common = { length, nullCount, nullBitmap };
  const each = <T>(fill: (v: unknown) => T, zero: T): T[] =>
    values.map((v) => (v === null || v === undefined ? zero : fill(v)));
  if (type instanceof Utf8) {
    return vectorFromArray(
      values.map((v) => (v === null || v === undefined ? null : String(v))),
      new Utf8(),
    ).data[0]!;
  }
  if (type instanceof Int32) return makeData({ type, ...common, data: Int32Array.from(each(Number, 0)) });
  if (type instanceof Int64)
    return makeData({ type, ...common, data: BigInt64Array.from(each(toBigInt, 0n)) });
  if (type instanceof Float64) return makeData({ type, ...common, data: Float64Array.from(each(Number, 0)) });
  if (type instanceof Timestamp) {
    const micros = each((v) => timestampToMicros(String(v)), 0n);
    return makeData({ type, ...common, data: BigInt64Array.from(micros) });
  }
  if (type instanceof DateDay) {
    const days = each((v) => Date.parse(`${String(v)}T00:00:00Z`) / 86_400_000, 0);
    return makeData({ type, ...common, data: Int32Array.from(days) });
  }
  if (type instanceof Bool) {
    const bits = new Uint8Array(Math.ceil(length / 8));
    values.forEach((v, i) => {
      if (v === true) bits[i >> 3]! |= 1 << (i & 7);
    });
    return makeData({ type, ...common, data: bits });
  }
  if (type instanceof Decimal) {
    const words = new Uint32Array(length * 4);
    values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      let unscaled = BigInt.asUintN(128, unscaledDecimal(String(v), type.scale));
      for (let w = 0; w < 4; w++) {
        words[i * 4 + w] = Number(unscaled & 0xffff_ffffn);
        unscaled >>= 32n;
      }
    });
    return makeData({ type, ...common, data: words });
  }
  throw new Error(`fixtures: no Arrow builder for ${String(type)}`);
}

function toBigInt(v: unknown): bigint {
  return typeof v === 'bigint' ? v : BigInt(v as number | string);
}

function unscaledDecimal(text: string, scale: number): bigint {
  const negative = text.startsWith('-');
  const [int = '0', frac = ''] = text.replace(/^[+-]/, '').split('.');
  const digits = BigInt(int + frac.padEnd(scale, '0').slice(0, scale));
  return negative ? -digits : digits;
}

/** `count` validated market_data upserts as lake changes, numbered from `from` (position and minute), on `day`. */
export function bars(from: number, count: number, day = '2024-03-04'): Change[] {
  const rows = validatorFor(marketData)(
    Array.from({ length: count }, (_, i) => ({
      symbol: `S${(from + i) % 5}`,
      interval: '1m',
      bucket_start: `${day}T${String(Math.floor((from + i) / 60) % 24).padStart(2, '0')}:${String((from + i) % 60).padStart(2, '0')}:00.000001Z`,
      open: '10.5',
      high: '11',
      low: '10',
      close: '10.25',
      volume: 100 + from + i,
      source: 'test',
    })),
  ) as Record<string, unknown>[];
  return rows.map((row, i) => ({
    dataset: 'market_data',
    op: 'u',
    key: { symbol: row.symbol, interval: row.interval, bucket_start: row.bucket_start },
    after: row,
    eventTime: row.bucket_start as string,
    position: BigInt(from + i),
    source: 'test',
    schemaVersion: 1,
  }));
}
