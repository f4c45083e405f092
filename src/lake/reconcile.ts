import type pg from 'pg';
import type { ColumnDef, Dataset } from '../core/index.ts';
import { HotConnectionError, microsToTimestamp, parseTimestamp } from '../core/index.ts';
import type { DuckDBLake } from './duckdb-lake.ts';
import type { DifferenceKind } from './reconcile-diff.ts';
import { firstDifferences } from './reconcile-diff.ts';
import { ReconcileError } from './reconcile-errors.ts';
import { HotSide } from './reconcile-hot.ts';
import { LakeSide } from './reconcile-lake.ts';
import type { DaySummary, TimeRange } from './reconcile-queries.ts';

type AnyDataset = Dataset<unknown, unknown>;

export type { DifferenceKind } from './reconcile-diff.ts';
export { ReconcileError } from './reconcile-errors.ts';

export interface ReconcileOptions {
  readonly pool: pg.Pool;
  /** PostgreSQL schema of the dataset tables. */
  readonly schema: string;
  /** The lake as of its last refresh(). */
  readonly lake: DuckDBLake;
  readonly datasets: readonly AnyDataset[];
  /** Event time, inclusive: a date or a timestamp. */
  readonly from?: string | Date;
  /** Event time, exclusive. */
  readonly to?: string | Date;
  /** Differing keys to name per mismatched day. Default 5. */
  readonly maxKeys?: number;
  readonly signal?: AbortSignal;
}

export interface KeyDifference {
  readonly kind: DifferenceKind;
  /** The primary key, each column in tierflow's normalised text form. */
  readonly key: Readonly<Record<string, string>>;
}

export interface DayReconciliation {
  readonly dataset: string;
  /** UTC day of event time, YYYY-MM-DD. */
  readonly day: string;
  readonly hotRows: number;
  readonly lakeRows: number;
  readonly hotChecksum: bigint;
  readonly lakeChecksum: bigint;
  readonly status: 'match' | 'mismatch';
  /** Up to maxKeys keys that differ, in key-hash order; empty when the day matches. */
  readonly differences: readonly KeyDifference[];
}

export interface ReconcileReport {
  readonly days: readonly DayReconciliation[];
  readonly clean: boolean;
}

const DAY_MICROS = 86_400_000_000n;

/**
 * Compares the hot tables with the lake's latest views, per dataset and UTC day of event time:
 * row counts and an order-independent checksum, each computed inside its engine over the
 * canonical row text (reconcile-canonical.ts), so no rows leave either engine for a day that
 * matches. For a day that does not, both sides stream per-row digests sorted by key hash and the
 * first differing keys are named. The hot side reads one REPEATABLE READ snapshot throughout.
 */
export async function reconcile(options: ReconcileOptions): Promise<ReconcileReport> {
  const range: TimeRange = { from: bound('from', options.from), to: bound('to', options.to) };
  const maxKeys = options.maxKeys ?? 5;
  const lake = new LakeSide(options.lake);
  let client: pg.PoolClient;
  try {
    client = await options.pool.connect();
  } catch (error) {
    throw new HotConnectionError(
      `reconcile: cannot connect to the hot tier: ${(error as Error).message}`,
      error,
    );
  }
  const hot = new HotSide(client, options.schema);
  const days: DayReconciliation[] = [];
  try {
    await hot.begin();
    await hot.checkEncoding();
    for (const dataset of options.datasets) {
      options.signal?.throwIfAborted();
      days.push(...(await reconcileDataset(hot, lake, dataset, range, maxKeys, options.signal)));
    }
    await hot.commit();
  } catch (error) {
    await rollback(client, error);
    throw error;
  }
  client.release();
  return { days, clean: days.every((d) => d.status === 'match') };
}

async function reconcileDataset(
  hot: HotSide,
  lake: LakeSide,
  dataset: AnyDataset,
  range: TimeRange,
  maxKeys: number,
  signal: AbortSignal | undefined,
): Promise<DayReconciliation[]> {
  const [hotDays, lakeDays] = await Promise.all([
    hot.summaries(dataset, range),
    lake.summaries(dataset, range),
  ]);
  const days: DayReconciliation[] = [];
  for (const { day, hotDay, lakeDay } of joinDays(hotDays, lakeDays)) {
    signal?.throwIfAborted();
    const same = hotDay?.rows === lakeDay?.rows && hotDay?.checksum === lakeDay?.checksum;
    let differences: KeyDifference[] = [];
    if (!same && maxKeys > 0) {
      const within = dayRange(day, range);
      const found = await firstDifferences(
        hot.digests(dataset, within),
        lake.digests(dataset, within),
        maxKeys,
      );
      differences = found.map((d) => ({ kind: d.kind, key: displayKey(dataset, d.digest.keyParts) }));
    }
    days.push({
      dataset: dataset.name,
      day: dayText(day),
      hotRows: hotDay?.rows ?? 0,
      lakeRows: lakeDay?.rows ?? 0,
      hotChecksum: hotDay?.checksum ?? 0n,
      lakeChecksum: lakeDay?.checksum ?? 0n,
      status: same ? 'match' : 'mismatch',
      differences,
    });
  }
  return days;
}

/** Ends the transaction after a failure; a client that cannot even roll back is discarded. */
async function rollback(client: pg.PoolClient, cause: unknown): Promise<void> {
  try {
    await client.query('ROLLBACK');
    client.release();
  } catch (rollbackError) {
    client.release(rollbackError instanceof Error ? rollbackError : true);
    throw new AggregateError([cause, rollbackError], 'reconcile: the query and its rollback failed', {
      cause: rollbackError,
    });
  }
}

function bound(name: string, value: string | Date | undefined): string | undefined {
  if (value === undefined) return undefined;
  const parsed = parseTimestamp(value);
  if (!parsed.ok) throw new ReconcileError(`reconcile: ${name} ${parsed.reason}`);
  return parsed.value;
}

function* joinDays(hot: readonly DaySummary[], lake: readonly DaySummary[]) {
  const byDay = new Map<number, { hotDay?: DaySummary; lakeDay?: DaySummary }>();
  for (const s of hot) byDay.set(s.day, { hotDay: s });
  for (const s of lake) byDay.set(s.day, { ...byDay.get(s.day), lakeDay: s });
  for (const day of [...byDay.keys()].sort((a, b) => a - b)) yield { day, ...byDay.get(day)! };
}

/** One UTC day, narrowed to the requested range (normalised timestamps order as text). */
function dayRange(day: number, range: TimeRange): TimeRange {
  const start = microsToTimestamp(BigInt(day) * DAY_MICROS);
  const end = microsToTimestamp(BigInt(day + 1) * DAY_MICROS);
  return {
    from: range.from !== undefined && range.from > start ? range.from : start,
    to: range.to !== undefined && range.to < end ? range.to : end,
  };
}

function dayText(day: number): string {
  return new Date(day * 86_400_000).toISOString().slice(0, 10);
}

/** Turns the canonical text of key columns back into tierflow's normalised forms. */
function displayKey(dataset: AnyDataset, parts: readonly string[]): Record<string, string> {
  const key: Record<string, string> = {};
  dataset.primaryKey.forEach((name, i) => {
    const col = dataset.columns.find((c) => c.name === name)!;
    key[name] = displayPart(col, parts[i] ?? '');
  });
  return key;
}

function displayPart(col: ColumnDef, part: string): string {
  switch (col.kind) {
    case 'timestamp':
      return microsToTimestamp(BigInt(part));
    case 'date':
      return dayText(Number(part));
    case 'bool':
      return part === 't' ? 'true' : 'false';
    default:
      return part;
  }
}
