import type pg from 'pg';
import type { Dataset } from '../core/index.ts';
import { ValidationError } from '../core/index.ts';
import type { Metrics } from '../observe/metrics.ts';
import { METRIC, noopMetrics } from '../observe/metrics.ts';
import { applyDelete } from './delete.ts';
import type { MigrationOutcome } from './migrate.ts';
import { migrate } from './migrate.ts';
import { toHotError } from './pg-errors.ts';
import { ident, qualified } from './sql.ts';
import { inTransaction } from './transaction.ts';
import type { PreparedBatch, UpsertStrategy } from './upsert.ts';
import { DEFAULT_UPSERT_STRATEGY, applyUpsert } from './upsert.ts';

export interface HotStoreOptions {
  /** PostgreSQL schema holding the dataset tables. */
  schema: string;
  strategy?: UpsertStrategy;
  metrics?: Metrics;
}

export interface RangeQuery {
  /** Inclusive lower bound of event time (normalised timestamp). */
  from?: string;
  /** Exclusive upper bound of event time. */
  to?: string;
  /** Equality filter on columns, already normalised. */
  where?: Readonly<Record<string, unknown>>;
  limit?: number;
}

type AnyDataset = Dataset<unknown, unknown>;

/**
 * Work a writer adds to the hot transaction: stage 1 publishes its event here, so the event
 * commits if and only if the rows do.
 */
export interface AlsoInTransaction {
  /** A statement (no parameters) to run first in the transaction, in BEGIN's round trip. */
  begin?: string;
  /** Told the first row of `begin`'s result, before the rows are applied. */
  begun?: (row: Record<string, unknown> | undefined) => void;
  /**
   * CPU work to overlap with PostgreSQL applying the rows: called once, on a later turn of the
   * event loop, after the rows were sent (it may not be called at all; `run` must not rely on it).
   */
  whileApplying?: () => void;
  /**
   * Runs after the rows are applied, before COMMIT. For a delete it is told the keys actually
   * deleted (keys with no row, or with a newer sequence, are not among them).
   */
  run: (client: pg.PoolClient, deleted?: readonly Record<string, unknown>[]) => Promise<void>;
}

/** The `whileApplying` of `also`, at most once, on the turn after the caller sent its rows. */
function sentHook(also: AlsoInTransaction | undefined): (() => void) | undefined {
  const work = also?.whileApplying;
  if (!work) return undefined;
  let called = false;
  return () => {
    if (called) return;
    called = true;
    setImmediate(work);
  };
}

/**
 * The PostgreSQL hot tier: batch upserts and deletes (each one transaction), and the reads
 * repositories offer. Rows reaching it are validated and normalised already.
 */
export class HotStore {
  readonly schema: string;
  readonly strategy: UpsertStrategy;
  private readonly metrics: Metrics;

  constructor(
    readonly pool: pg.Pool,
    options: HotStoreOptions,
  ) {
    this.schema = options.schema;
    this.strategy = options.strategy ?? DEFAULT_UPSERT_STRATEGY;
    this.metrics = options.metrics ?? noopMetrics;
  }

  migrate(datasets: readonly AnyDataset[]): Promise<MigrationOutcome[]> {
    return migrate(this.pool, this.schema, datasets);
  }

  /** Upserts a prepared batch in one transaction; returns the rows inserted or changed. */
  async upsert(dataset: AnyDataset, batch: PreparedBatch, also?: AlsoInTransaction): Promise<number> {
    return this.timed(dataset, () =>
      inTransaction(
        this.pool,
        async (client, begun) => {
          also?.begun?.(begun);
          const applied = await applyUpsert(
            client,
            this.schema,
            dataset,
            batch,
            this.strategy,
            sentHook(also),
          );
          await also?.run(client);
          return applied;
        },
        also?.begin,
      ),
    );
  }

  /** Deletes by normalised keys in one transaction, honouring the sequence guard. */
  async delete(dataset: AnyDataset, keys: PreparedBatch, also?: AlsoInTransaction): Promise<number> {
    if (keys.rows.length === 0) return 0;
    return this.timed(dataset, () =>
      inTransaction(
        this.pool,
        async (client, begun) => {
          also?.begun?.(begun);
          const deleted = await applyDelete(client, this.schema, dataset, keys, sentHook(also));
          await also?.run(client, deleted);
          return deleted.length;
        },
        also?.begin,
      ),
    );
  }

  async get(
    dataset: AnyDataset,
    key: Readonly<Record<string, unknown>>,
  ): Promise<Record<string, unknown> | undefined> {
    const where = dataset.primaryKey.map((k, i) => `${ident(k)} = $${i + 1}`).join(' AND ');
    const { rows } = await this.read(
      dataset,
      `SELECT ${this.columnList(dataset)} FROM ${qualified(this.schema, dataset.name)} WHERE ${where}`,
      dataset.primaryKey.map((k) => key[k]),
    );
    return rows[0];
  }

  /** Rows whose event time lies in [from, to), oldest first, optionally filtered by equality. */
  async range(dataset: AnyDataset, query: RangeQuery): Promise<Record<string, unknown>[]> {
    const { clause, params } = this.filter(dataset, query);
    const order = [dataset.eventTime, ...dataset.primaryKey].map(ident).join(', ');
    const limit = query.limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(query.limit))}`;
    const sql = `SELECT ${this.columnList(dataset)} FROM ${qualified(this.schema, dataset.name)}${clause} ORDER BY ${order}${limit}`;
    return (await this.read(dataset, sql, params)).rows;
  }

  /** The `n` rows with the latest event time, newest first. */
  async latest(
    dataset: AnyDataset,
    n: number,
    where?: Readonly<Record<string, unknown>>,
  ): Promise<Record<string, unknown>[]> {
    const { clause, params } = this.filter(dataset, { where });
    const order = [dataset.eventTime, ...dataset.primaryKey].map((c) => `${ident(c)} DESC`).join(', ');
    const sql = `SELECT ${this.columnList(dataset)} FROM ${qualified(this.schema, dataset.name)}${clause} ORDER BY ${order} LIMIT ${Math.max(0, Math.floor(n))}`;
    return (await this.read(dataset, sql, params)).rows;
  }

  async count(dataset: AnyDataset): Promise<number> {
    const { rows } = await this.read(
      dataset,
      `SELECT count(*)::int AS n FROM ${qualified(this.schema, dataset.name)}`,
      [],
    );
    return rows[0]!.n as number;
  }

  private columnList(dataset: AnyDataset): string {
    return dataset.columns.map((c) => ident(c.name)).join(', ');
  }

  private filter(dataset: AnyDataset, query: RangeQuery): { clause: string; params: unknown[] } {
    const conditions: string[] = [];
    const params: unknown[] = [];
    const time = ident(dataset.eventTime);
    if (query.from !== undefined) conditions.push(`${time} >= $${params.push(query.from)}`);
    if (query.to !== undefined) conditions.push(`${time} < $${params.push(query.to)}`);
    for (const [name, value] of Object.entries(query.where ?? {})) {
      const col = dataset.columns.find((c) => c.name === name);
      if (!col || col.kind === 'json') {
        throw new ValidationError(
          dataset.name,
          0,
          name,
          col ? 'json columns cannot be filtered on' : 'is not a column of this dataset',
        );
      }
      conditions.push(value === null ? `${ident(name)} IS NULL` : `${ident(name)} = $${params.push(value)}`);
    }
    return { clause: conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '', params };
  }

  private async read(
    dataset: AnyDataset,
    sql: string,
    params: unknown[],
  ): Promise<pg.QueryResult<Record<string, unknown>>> {
    try {
      return await this.pool.query(sql, params);
    } catch (error) {
      throw toHotError(dataset.name, error);
    }
  }

  private async timed(dataset: AnyDataset, work: () => Promise<number>): Promise<number> {
    const started = performance.now();
    try {
      const applied = await work();
      this.metrics.observe(METRIC.hotWriteLatency, (performance.now() - started) / 1000, {
        dataset: dataset.name,
      });
      return applied;
    } catch (error) {
      const typed = toHotError(dataset.name, error);
      this.metrics.count(METRIC.writeErrors, {
        type: typed.code === 'HOT_CONNECTION' ? 'connection' : 'database',
        tier: 'hot',
      });
      throw typed;
    }
  }
}
