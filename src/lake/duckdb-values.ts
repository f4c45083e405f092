import type { DuckDBValue } from '@duckdb/node-api';
import {
  DuckDBArrayValue,
  DuckDBBlobValue,
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBListValue,
  DuckDBMapValue,
  DuckDBStructValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBUnionValue,
} from '@duckdb/node-api';
import { microsToTimestamp } from '../core/index.ts';

/**
 * A lake query's values in tierflow's normalised forms, so rows read from the lake compare
 * equal to rows read from the hot tier: BIGINT and HUGEINT as bigint, DECIMAL as exact text at
 * its scale, timestamps as ISO-8601 UTC text with six fractional digits, dates as YYYY-MM-DD,
 * json columns as their text. Lists, structs and maps become arrays and objects.
 */
export type LakeValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | readonly LakeValue[]
  | { readonly [key: string]: LakeValue };

export type LakeRow = Record<string, LakeValue>;

const DAY_MS = 86_400_000;
const MIN_DAY = -719_162; // 0001-01-01
const MAX_DAY = 2_932_896; // 9999-12-31
const MIN_MICROS = -62_135_596_800_000_000n; // 0001-01-01T00:00:00Z
const MAX_MICROS = 253_402_300_799_999_999n; // 9999-12-31T23:59:59.999999Z

export function toLakeValue(value: DuckDBValue): LakeValue {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof DuckDBDecimalValue) return value.toString();
  if (value instanceof DuckDBTimestampTZValue || value instanceof DuckDBTimestampValue) {
    return timestampText(value.micros, value.toString());
  }
  if (value instanceof DuckDBTimestampMillisecondsValue)
    return timestampText(value.millis * 1000n, value.toString());
  if (value instanceof DuckDBTimestampSecondsValue)
    return timestampText(value.seconds * 1_000_000n, value.toString());
  if (value instanceof DuckDBTimestampNanosecondsValue) {
    // Microseconds are tierflow's precision; the nanoseconds keep their own three digits.
    const micros = value.nanos >= 0n ? value.nanos / 1000n : (value.nanos - 999n) / 1000n;
    const text = timestampText(micros, value.toString());
    const nanos = String(value.nanos - micros * 1000n).padStart(3, '0');
    return text.endsWith('Z') ? `${text.slice(0, -1)}${nanos}Z` : text;
  }
  if (value instanceof DuckDBDateValue) {
    return value.days >= MIN_DAY && value.days <= MAX_DAY
      ? new Date(value.days * DAY_MS).toISOString().slice(0, 10)
      : value.toString();
  }
  if (value instanceof DuckDBListValue || value instanceof DuckDBArrayValue)
    return value.items.map(toLakeValue);
  if (value instanceof DuckDBStructValue) {
    return Object.fromEntries(Object.entries(value.entries).map(([k, v]) => [k, toLakeValue(v)]));
  }
  if (value instanceof DuckDBMapValue) {
    return value.entries.map((e) => ({ key: toLakeValue(e.key), value: toLakeValue(e.value) }));
  }
  if (value instanceof DuckDBUnionValue) return toLakeValue(value.value);
  if (value instanceof DuckDBBlobValue) return value.bytes;
  // Time of day, intervals, UUIDs, bit strings and the rest: DuckDB's own text.
  return value.toString();
}

/** Normalised text within years 1–9999; DuckDB's own text (infinity, far years) beyond. */
function timestampText(micros: bigint, fallback: string): string {
  return micros >= MIN_MICROS && micros <= MAX_MICROS ? microsToTimestamp(micros) : fallback;
}

/** JSON cannot carry 64-bit integers or bytes: bigints become decimal text, bytes base64. */
export function lakeValueToJson(value: LakeValue): unknown {
  if (typeof value === 'bigint') return String(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(lakeValueToJson);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as { readonly [key: string]: LakeValue }).map(([k, v]) => [k, lakeValueToJson(v)]),
    );
  }
  return value;
}
