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
    columnData(
      col,
      (Object.hasOwn(batch.values, col.name) && batch.values[col.name]) || new Array<null>(n).fill(null),
    ),
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

/**
 * Microseconds as numbers where a double holds them exactly (within about 285 years of 1970), as
 * bigint beyond: no BigInt per value for the timestamps data carries.
 */
function microsData(values: readonly (number | bigint | null | undefined)[]): Data {
  const { bitmap, nulls } = validity(values);
  const words = new Uint32Array(values.length * 2);
  const exact = new BigInt64Array(words.buffer);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] ?? 0;
    if (typeof v === 'bigint') exact[i] = v;
    else writeInt64(words, i * 2, v);
  }
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

const digit = (text: string, at: number) => text.charCodeAt(at) - 48;

/** Days from 1970-01-01 to a proleptic Gregorian date, for any year (Date.UTC maps years 0–99 to 19xx). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** Microseconds since the epoch of a normalised timestamp (`YYYY-MM-DDTHH:MM:SS.ffffffZ`), digit by digit. */
function timestampMicros(ts: string): number | bigint {
  if (ts.length !== 27) return Date.parse(ts) * 1000; // not normalised: millisecond precision at best
  const year = digit(ts, 0) * 1000 + digit(ts, 1) * 100 + digit(ts, 2) * 10 + digit(ts, 3);
  const days = daysFromCivil(year, digit(ts, 5) * 10 + digit(ts, 6), digit(ts, 8) * 10 + digit(ts, 9));
  const seconds =
    (digit(ts, 11) * 10 + digit(ts, 12)) * 3600 +
    (digit(ts, 14) * 10 + digit(ts, 15)) * 60 +
    digit(ts, 17) * 10 +
    digit(ts, 18);
  let micros = 0;
  for (let i = 20; i < 26; i++) micros = micros * 10 + digit(ts, i);
  const total = days * 86_400 + seconds;
  // |total| below 9e9 s keeps total × 10^6 + micros below 2^53, exact in a double.
  return Math.abs(total) < 9e9 ? total * 1_000_000 + micros : BigInt(total) * 1_000_000n + BigInt(micros);
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
    if (v) {
      // ASCII byte by byte (most values: symbols, sources, ops); anything else through the encoder.
      let k = 0;
      for (; k < v.length; k++) {
        const c = v.charCodeAt(k);
        if (c >= 0x80) break;
        bytes[end + k] = c;
      }
      end += k === v.length ? k : encoder.encodeInto(v, bytes.subarray(end)).written;
    }
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
    const negative = v.charCodeAt(0) === 45; /* - */
    const digitCount = v.length - (negative ? 1 : 0) - (v.includes('.') ? 1 : 0);
    if (digitCount <= 15) {
      // At most 15 digits: below 2^53, exact in a double, no BigInt and no string built.
      let n = 0;
      for (let k = negative ? 1 : 0; k < v.length; k++) {
        const c = v.charCodeAt(k);
        if (c !== 46 /* . */) n = n * 10 + (c - 48);
      }
      if (negative) n = -n;
      writeInt64(words, i * 4, n);
      const fill = n < 0 ? 0xffffffff : 0;
      words[i * 4 + 2] = fill;
      words[i * 4 + 3] = fill;
    } else {
      let big = BigInt(v.replace('.', ''));
      if (big < 0n) big += 1n << 128n;
      for (let w = 0; w < 4; w++) {
        words[i * 4 + w] = Number(big & 0xffffffffn);
        big >>= 32n;
      }
    }
  }
  return makeData({ type, length: values.length, nullCount: nulls, nullBitmap: bitmap, data: words });
}
