import type { ColumnDef } from '../core/index.ts';

/**
 * The canonical text of a row, built by SQL that PostgreSQL and DuckDB evaluate to the same
 * bytes for the same values, so a checksum computed inside each engine can be compared without
 * moving rows out of either. Where the engines print a type differently, or a setting
 * (DateStyle, TimeZone, extra_float_digits) could change the text, the form is an integer both
 * compute exactly instead:
 *
 * | kind      | canonical text                                                          |
 * |-----------|-------------------------------------------------------------------------|
 * | text      | the string itself                                                       |
 * | int32/64  | decimal digits with a leading '-' when negative                         |
 * | decimal   | decimal digits with exactly `scale` fractional digits ('-0.500000')     |
 * | float64   | the IEEE-754 bits as a signed 64-bit integer; 0 and -0 both '0'         |
 * | bool      | 't' or 'f'                                                              |
 * | timestamp | microseconds since 1970-01-01T00:00:00Z                                 |
 * | date      | days since 1970-01-01                                                   |
 * | json      | the text: jsonb's output in PostgreSQL, stored as that text in the lake |
 *
 * Each field is `<UTF-8 byte length>:<text>`, or `~` for null, so no value can imitate a
 * separator or a null; fields are joined with '|'. The row hash is md5 of that text, its first
 * 15 hex digits read as a 60-bit integer; a day's checksum is the sum of its rows' hashes, which
 * does not depend on row order.
 */
export interface CanonicalDialect {
  readonly engine: 'postgres' | 'duckdb';
  /** The canonical text of a column, or NULL. */
  columnText(col: ColumnDef, ref: string): string;
  byteLength(text: string): string;
  /** An integer expression as decimal text. */
  integerText(expr: string): string;
  /** The first 15 hex digits of md5(text) as a non-negative integer. */
  hash60(text: string): string;
  /** The UTC day of a timestamp column, as days since 1970-01-01. */
  epochDay(ref: string): string;
  /** Sorts hex digests bytewise, whatever the database's default collation. */
  bytewise(expr: string): string;
}

const DAY_MICROS = '86400000000';

export const postgresCanonical: CanonicalDialect = {
  engine: 'postgres',
  columnText(col, ref) {
    switch (col.kind) {
      case 'text':
      case 'int32':
      case 'int64':
      case 'decimal':
      case 'json':
        // numeric(p,s) prints exactly s fractional digits; jsonb prints its normal form.
        return `${ref}::text`;
      case 'float64':
        // float8send gives the eight IEEE bytes, big-endian; as bit(64) they read as an int8.
        return nullSafe(
          ref,
          `CASE WHEN ${ref} = 0 THEN '0' WHEN ${ref} = 'NaN'::float8 THEN 'NaN' ` +
            `ELSE ('x' || encode(float8send(${ref}), 'hex'))::bit(64)::bigint::text END`,
        );
      case 'bool':
        return nullSafe(ref, `CASE WHEN ${ref} THEN 't' ELSE 'f' END`);
      case 'timestamp':
        // extract(epoch) is numeric (PostgreSQL 14+), exact to the microsecond.
        return `(extract(epoch FROM ${ref}) * 1000000)::bigint::text`;
      case 'date':
        return `(${ref} - DATE '1970-01-01')::text`;
    }
  },
  byteLength: (text) => `octet_length(${text})::text`,
  integerText: (expr) => `(${expr})::text`,
  hash60: (text) => `('x' || substr(md5(${text}), 1, 15))::bit(60)::bigint`,
  epochDay: (ref) => `((${ref} AT TIME ZONE 'UTC')::date - DATE '1970-01-01')`,
  bytewise: (expr) => `${expr} COLLATE "C"`,
};

export const duckdbCanonical: CanonicalDialect = {
  engine: 'duckdb',
  columnText(col, ref) {
    switch (col.kind) {
      case 'text':
      case 'int32':
      case 'int64':
      case 'decimal':
      case 'json':
        // DECIMAL(p,s) prints exactly s fractional digits, as numeric(p,s) does.
        return `CAST(${ref} AS VARCHAR)`;
      case 'float64':
        // A DOUBLE cast to BIT is its 64 IEEE bits; BIT to BIGINT reads them as a signed int.
        return nullSafe(
          ref,
          `CASE WHEN ${ref} = 0 THEN '0' WHEN isnan(${ref}) THEN 'NaN' ` +
            `ELSE CAST(CAST(CAST(${ref} AS BIT) AS BIGINT) AS VARCHAR) END`,
        );
      case 'bool':
        return nullSafe(ref, `CASE WHEN ${ref} THEN 't' ELSE 'f' END`);
      case 'timestamp':
        return `CAST(epoch_us(${ref}) AS VARCHAR)`;
      case 'date':
        return `CAST(${ref} - DATE '1970-01-01' AS VARCHAR)`;
    }
  },
  byteLength: (text) => `CAST(strlen(${text}) AS VARCHAR)`,
  integerText: (expr) => `CAST(${expr} AS VARCHAR)`,
  hash60: (text) => `CAST('0x' || substr(md5(${text}), 1, 15) AS BIGINT)`,
  // Floor division in integers: `//` truncates towards zero, wrong for days before 1970.
  epochDay: (ref) =>
    `((epoch_us(${ref}) - (epoch_us(${ref}) % ${DAY_MICROS} + ${DAY_MICROS}) % ${DAY_MICROS}) // ${DAY_MICROS})`,
  bytewise: (expr) => expr,
};

/** CASE WHEN x THEN … ELSE … would turn a NULL into a value; NULL stays NULL. */
function nullSafe(ref: string, expr: string): string {
  return `CASE WHEN ${ref} IS NULL THEN NULL ELSE ${expr} END`;
}

/** One self-delimiting field: `<bytes>:<text>`, or `~` for null. */
export function canonicalField(dialect: CanonicalDialect, col: ColumnDef, ref: string): string {
  const text = dialect.columnText(col, ref);
  return `COALESCE(${dialect.byteLength(text)} || ':' || ${text}, '~')`;
}

/** The canonical text of the given columns of a row, in the order given. */
export function canonicalText(
  dialect: CanonicalDialect,
  columns: readonly ColumnDef[],
  refOf: (col: ColumnDef) => string,
): string {
  return columns.map((col) => canonicalField(dialect, col, refOf(col))).join(` || '|' || `);
}
