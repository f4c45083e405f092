import type { Dataset } from '../core/index.ts';
import { quoteIdent } from './duckdb-sql.ts';
import type { CanonicalDialect } from './reconcile-canonical.ts';
import { canonicalText } from './reconcile-canonical.ts';

/**
 * The two statements reconciliation runs on each side, built once from a dialect so that hot
 * and lake queries differ only where the engines' functions do. Both engines take `$n`
 * placeholders and `CAST(… AS TIMESTAMPTZ)`.
 */

type AnyDataset = Dataset<unknown, unknown>;

/** Event-time bounds as normalised timestamps: `from` inclusive, `to` exclusive. */
export interface TimeRange {
  readonly from?: string;
  readonly to?: string;
}

export interface BuiltQuery {
  readonly sql: string;
  readonly params: string[];
}

/** One UTC day of one side: how many rows, and the sum of their 60-bit row hashes. */
export interface DaySummary {
  /** Days since 1970-01-01. */
  readonly day: number;
  readonly rows: number;
  readonly checksum: bigint;
}

/** One row, reduced to what locating a difference needs. */
export interface RowDigest {
  /** md5 of the key's canonical text; both sides sort by it, bytewise. */
  readonly keyHash: string;
  /** md5 of the whole row's canonical text. */
  readonly rowHash: string;
  /** The canonical text of each key column, to name the key in a report. */
  readonly keyParts: readonly string[];
}

function where(dataset: AnyDataset, range: TimeRange): BuiltQuery {
  const time = `t.${quoteIdent(dataset.eventTime)}`;
  const conditions: string[] = [];
  const params: string[] = [];
  if (range.from !== undefined) {
    params.push(range.from);
    conditions.push(`${time} >= CAST($${params.length} AS TIMESTAMPTZ)`);
  }
  if (range.to !== undefined) {
    params.push(range.to);
    conditions.push(`${time} < CAST($${params.length} AS TIMESTAMPTZ)`);
  }
  return { sql: conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '', params };
}

const columnRef = (col: { name: string }) => `t.${quoteIdent(col.name)}`;

/** Rows and checksum per UTC day of event time; `table` is the quoted relation to read. */
export function summaryQuery(
  dialect: CanonicalDialect,
  dataset: AnyDataset,
  table: string,
  range: TimeRange,
): BuiltQuery {
  const filter = where(dataset, range);
  const row = canonicalText(dialect, dataset.columns, columnRef);
  const sql =
    `SELECT ${dialect.integerText('_day')} AS epoch_day, ${dialect.integerText('count(*)')} AS row_count, ` +
    `${dialect.integerText('sum(_hash)')} AS checksum ` +
    `FROM (SELECT ${dialect.epochDay(columnRef({ name: dataset.eventTime }))} AS _day, ` +
    `${dialect.hash60(row)} AS _hash FROM ${table} AS t ${filter.sql}) AS s ` +
    `GROUP BY _day ORDER BY _day`;
  return { sql, params: filter.params };
}

/** Every row's key hash, row hash and key, sorted bytewise by key hash. */
export function digestQuery(
  dialect: CanonicalDialect,
  dataset: AnyDataset,
  table: string,
  range: TimeRange,
): BuiltQuery {
  const filter = where(dataset, range);
  const keyColumns = dataset.primaryKey.map((name) => dataset.columns.find((c) => c.name === name)!);
  const key = canonicalText(dialect, keyColumns, columnRef);
  const row = canonicalText(dialect, dataset.columns, columnRef);
  const parts = keyColumns.map((c, i) => `${dialect.columnText(c, columnRef(c))} AS k${i}`).join(', ');
  const sql =
    `SELECT * FROM (SELECT md5(${key}) AS key_hash, md5(${row}) AS row_hash, ${parts} ` +
    `FROM ${table} AS t ${filter.sql}) AS s ORDER BY ${dialect.bytewise('s.key_hash')}`;
  return { sql, params: filter.params };
}

export function parseSummary(row: Readonly<Record<string, unknown>>): DaySummary {
  return { day: Number(row.epoch_day), rows: Number(row.row_count), checksum: BigInt(String(row.checksum)) };
}

export function parseDigest(row: Readonly<Record<string, unknown>>, keyCount: number): RowDigest {
  const keyParts: string[] = [];
  for (let i = 0; i < keyCount; i++) keyParts.push(String(row[`k${i}`]));
  return { keyHash: String(row.key_hash), rowHash: String(row.row_hash), keyParts };
}
