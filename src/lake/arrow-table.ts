import {
  Bool,
  DateDay,
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
} from 'apache-arrow';
import type { Data, DataType, Decimal } from 'apache-arrow';
import type { ColumnDef, Dataset } from '../core/index.ts';
import { arrowType } from '../core/index.ts';
import { canonicalJson } from './canonical-json.ts';
import type { LakeBatch } from './lake-batch.ts';

export const META_COLUMNS = ['_op', '_position', '_ingested_at', '_schema_version'] as const;

/**
 * The Parquet schema of a dataset: its columns, every non-key column nullable (a delete keeps
 * only the key), then the metadata columns.
 */
export function lakeSchema(dataset: Dataset<unknown, unknown>): Schema {
  const fields = dataset.columns.map((col) => {
    const isKey = dataset.primaryKey.includes(col.name) || col.name === dataset.eventTime;
    return new Field(col.name, arrowType(col), !isKey);
  });
  fields.push(
    new Field('_op', new Utf8(), false),
    new Field('_position', new Int64(), false),
    new Field('_ingested_at', new Timestamp(TimeUnit.MICROSECOND, 'UTC'), false),
    new Field('_schema_version', new Int32(), false),
  );
  return new Schema(
    fields,
    new Map([
      ['tierflow:dataset', dataset.name],
      ['tierflow:version', String(dataset.version)],
    ]),
  );
}

/**
 * Builds the Arrow table of a batch column by column, straight into typed arrays: one pass per
 * column and no per-value builders, so building costs little next to Parquet encoding.
 */
export function lakeTable(
  dataset: Dataset<unknown, unknown>,
  batch: LakeBatch,
  ingestedAtMicros: number,
): Table {
  const schema = lakeSchema(dataset);
  const n = batch.length;
  const children: Data[] = dataset.columns.map((col) =>
    columnData(col, batch.values[col.name] ?? new Array<null>(n).fill(null)),
  );
  children.push(
    utf8Data(batch.ops),
    int64Data(batch.positions),
    microsData(new Array<number>(n).fill(ingestedAtMicros)),
    makeData({ type: new Int32(), length: n, data: Int32Array.from(batch.schemaVersions) }),
  );
  const struct = makeData({ type: new Struct(schema.fields), length: n, children });
  return new Table([new RecordBatch(schema, struct)]);
}

function columnData(col: ColumnDef, values: readonly unknown[]): Data {
  switch (col.kind) {
    case 'text':
      return utf8Data(values as (string | null)[]);
    case 'json':
      return utf8Data(values.map((v) => (v === null || v === undefined ? null : canonicalJson(v))));
    case 'int32':
      return numeric(new Int32(), Int32Array, values as (number | null)[]);
    case 'float64':
      return numeric(new Float64(), Float64Array, values as (number | null)[]);
    case 'int64':
      return int64Data(values as (bigint | null)[]);
    case 'bool':
      return boolData(values as (boolean | null)[]);
    case 'decimal':
      return decimalData(arrowType(col) as Decimal, values as (string | null)[]);
    case 'timestamp':
      return microsData(
        values.map((v) => (v === null || v === undefined ? null : timestampMicros(v as string))),
      );
    case 'date':
      return numeric(
        new DateDay(),
        Int32Array,
        values.map((v) =>
          v === null || v === undefined ? null : Date.parse(`${v as string}T00:00:00Z`) / 86_400_000,
        ),
      );
  }
}

/** Validity bitmap (bit set = present), or undefined when nothing is null. */
function validity(values: readonly unknown[]): { bitmap: Uint8Array | undefined; nulls: number } {
  let nulls = 0;
  for (const v of values) if (v === null || v === undefined) nulls++;
  if (nulls === 0) return { bitmap: undefined, nulls };
  const bitmap = new Uint8Array((values.length + 7) >> 3);
  values.forEach((v, i) => {
    if (v !== null && v !== undefined) bitmap[i >> 3]! |= 1 << (i & 7);
  });
  return { bitmap, nulls };
}

function numeric<T extends DataType>(
  type: T,
  Array_: Int32ArrayConstructor | Float64ArrayConstructor,
  values: readonly (number | null | undefined)[],
): Data {
  const { bitmap, nulls } = validity(values);
  const data = new Array_(values.length);
  for (let i = 0; i < values.length; i++) data[i] = values[i] ?? 0;
  return makeData({ type, length: values.length, nullCount: nulls, nullBitmap: bitmap, data } as never);
}

function int64Data(values: readonly (bigint | null | undefined)[]): Data {
  const { bitmap, nulls } = validity(values);
  const data = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = values[i] ?? 0n;
  return makeData({ type: new Int64(), length: values.length, nullCount: nulls, nullBitmap: bitmap, data });
}

/** Microseconds fit a double exactly for every year tierflow accepts; no BigInt per value. */
function microsData(values: readonly (number | null | undefined)[]): Data {
  const { bitmap, nulls } = validity(values);
  const words = new Uint32Array(values.length * 2);
  for (let i = 0; i < values.length; i++) writeInt64(words, i * 2, values[i] ?? 0);
  return makeData({
    type: new Timestamp(TimeUnit.MICROSECOND, 'UTC'),
    length: values.length,
    nullCount: nulls,
    nullBitmap: bitmap,
    data: new BigInt64Array(words.buffer),
  });
}

function writeInt64(words: Uint32Array, at: number, value: number): void {
  const low = value % 4294967296;
  const high = Math.floor(value / 4294967296);
  words[at] = low < 0 ? low + 4294967296 : low;
  words[at + 1] = high >>> 0;
}

function timestampMicros(ts: string): number {
  return Date.parse(`${ts.slice(0, 23)}Z`) * 1000 + Number(ts.slice(23, 26));
}

const encoder = new TextEncoder();

function utf8Data(values: readonly (string | null | undefined)[]): Data {
  const { bitmap, nulls } = validity(values);
  const offsets = new Int32Array(values.length + 1);
  let capacity = 64;
  for (const v of values) if (v) capacity += v.length * 3;
  const bytes = new Uint8Array(capacity);
  let end = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v) end += encoder.encodeInto(v, bytes.subarray(end)).written;
    offsets[i + 1] = end;
  }
  return makeData({
    type: new Utf8(),
    length: values.length,
    nullCount: nulls,
    nullBitmap: bitmap,
    valueOffsets: offsets,
    data: bytes.subarray(0, end),
  });
}

function boolData(values: readonly (boolean | null | undefined)[]): Data {
  const { bitmap, nulls } = validity(values);
  const data = new Uint8Array((values.length + 7) >> 3);
  values.forEach((v, i) => {
    if (v) data[i >> 3]! |= 1 << (i & 7);
  });
  return makeData({ type: new Bool(), length: values.length, nullCount: nulls, nullBitmap: bitmap, data });
}

/** 128-bit two's-complement little-endian unscaled integers, four 32-bit words per value. */
function decimalData(type: Decimal, values: readonly (string | null | undefined)[]): Data {
  const { bitmap, nulls } = validity(values);
  const words = new Uint32Array(values.length * 4);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) continue;
    const digits = v.replace('.', '');
    if (digits.length <= 15) {
      // At most 15 characters (sign included): below 2^53, exact in a double, no BigInt needed.
      const n = Number(digits);
      writeInt64(words, i * 4, n);
      const fill = n < 0 ? 0xffffffff : 0;
      words[i * 4 + 2] = fill;
      words[i * 4 + 3] = fill;
    } else {
      let big = BigInt(digits);
      if (big < 0n) big += 1n << 128n;
      for (let w = 0; w < 4; w++) {
        words[i * 4 + w] = Number(big & 0xffffffffn);
        big >>= 32n;
      }
    }
  }
  return makeData({ type, length: values.length, nullCount: nulls, nullBitmap: bitmap, data: words });
}
