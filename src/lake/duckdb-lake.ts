import path from 'node:path';
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Dataset } from '../core/index.ts';
import { TierflowError } from '../core/index.ts';
import { LakeClosedError, LakeQueryError } from './duckdb-errors.ts';
import type { LakeRow } from './duckdb-values.ts';
import { toLakeValue } from './duckdb-values.ts';
import type { Manifest } from './manifest.ts';
import { liveFiles, readAllManifests } from './manifest.ts';
import type { ViewColumn } from './views.ts';
import { describeSourceSql, historyViewSql, latestViewSql } from './views.ts';

type AnyDataset = Dataset<unknown, unknown>;

/** A value bound to a `?` or `$name` placeholder. Timestamps go in as ISO text with a CAST. */
export type LakeParam = string | number | bigint | boolean | null;
export type LakeParams = readonly LakeParam[] | Readonly<Record<string, LakeParam>>;

export interface LakeResult {
  /** Column names in order, made unique by DuckDB (`x`, `x_1`) where a query repeats one. */
  readonly columns: readonly string[];
  readonly rows: LakeRow[];
}

export interface LakeQueryOptions {
  /** DuckDB settings for the in-memory instance (`threads`, `memory_limit`, …). */
  readonly settings?: Readonly<Record<string, string>>;
}

/**
 * SQL over the Parquet lake through an in-memory DuckDB. Each dataset gets two views (see
 * views.ts) over the files its manifests list as live, those of every scope (`_manifest.json` and
 * each source partition's `_manifest+p<p>.json`), so files written but never committed stay
 * invisible. The views are a snapshot: `refresh()` re-reads the manifests.
 *
 * Every query runs on a connection of its own, so concurrent queries and streams do not share
 * a result; `close()` waits for the queries in flight, then releases DuckDB.
 */
export class DuckDBLake implements AsyncDisposable {
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly connections = new Set<DuckDBConnection>();
  private readonly scopes = new Map<string, readonly Manifest[]>();
  private refreshing: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;

  private constructor(
    readonly root: string,
    readonly datasets: readonly AnyDataset[],
    private readonly instance: DuckDBInstance,
  ) {}

  static async open(
    root: string,
    datasets: readonly AnyDataset[],
    options: LakeQueryOptions = {},
  ): Promise<DuckDBLake> {
    let instance: DuckDBInstance;
    try {
      // Everything the engine needs is linked in; it must never fetch extensions on its own.
      instance = await DuckDBInstance.create(':memory:', {
        autoinstall_known_extensions: 'false',
        ...options.settings,
      });
    } catch (error) {
      throw new LakeQueryError('-- create in-memory DuckDB instance', error);
    }
    const lake = new DuckDBLake(path.resolve(root), datasets, instance);
    try {
      // Casts from TIMESTAMPTZ to DATE or text follow the session zone; the lake's days are UTC.
      await lake.query(`SET GLOBAL TimeZone = 'UTC'`);
      await lake.refresh();
    } catch (error) {
      try {
        await lake.close();
      } catch (closeError) {
        throw new AggregateError([error, closeError], 'lake: opening failed, and so did closing', {
          cause: closeError,
        });
      }
      throw error;
    }
    return lake;
  }

  /**
   * Scope 0's manifest the views were last built from (a lake written by one writer has no
   * other), or undefined for a dataset not configured. `manifests` has every scope's.
   */
  manifest(dataset: string): Manifest | undefined {
    return this.scopes.get(dataset)?.[0];
  }

  /** Every scope's manifest the views were last built from, scope 0 first (empty if it has none). */
  manifests(dataset: string): readonly Manifest[] | undefined {
    return this.scopes.get(dataset);
  }

  /** Re-reads every manifest and replaces the views in one DuckDB transaction. */
  refresh(): Promise<void> {
    const next = this.refreshing.then(() => this.rebuildViews());
    // A failed refresh leaves the previous views in place; the next refresh starts afresh.
    this.refreshing = next.catch(() => undefined);
    return next;
  }

  async query(sql: string, params?: LakeParams): Promise<LakeRow[]> {
    return (await this.queryResult(sql, params)).rows;
  }

  /** Rows with their column names, which a caller needs to print an empty result. */
  queryResult(sql: string, params?: LakeParams): Promise<LakeResult> {
    return this.withConnection(sql, async (connection) => {
      const result = await connection.run(sql, toDuckDBParams(params));
      const columns = result.deduplicatedColumnNames();
      const rows = (await result.getRows()).map((values) => rowObject(columns, values));
      return { columns, rows };
    });
  }

  /**
   * Rows in batches of DuckDB's chunk size (2,048), fetched only as the caller iterates, so a
   * large result never sits in memory whole. The first batch always comes, empty for an empty
   * result, so the columns are known. Break out of the loop to stop early.
   */
  async *stream(sql: string, params?: LakeParams): AsyncGenerator<LakeResult, void, undefined> {
    const { connection, result } = await this.operation(sql, async () => {
      const connection = await this.connect();
      try {
        return { connection, result: await connection.stream(sql, toDuckDBParams(params)) };
      } catch (error) {
        this.disconnect(connection);
        throw error;
      }
    });
    try {
      const columns = result.deduplicatedColumnNames();
      for (let first = true; ; first = false) {
        const chunk = await this.operation(sql, () => result.fetchChunk());
        const rows = chunk?.getRows().map((values) => rowObject(columns, values)) ?? [];
        if (rows.length > 0 || first) yield { columns, rows };
        if (rows.length === 0) return;
      }
    } finally {
      this.disconnect(connection);
    }
  }

  /** Safe to call twice; waits for queries in flight, then releases the DuckDB instance. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([...this.inFlight, this.refreshing]);
      for (const connection of this.connections) this.disconnect(connection);
      this.instance.closeSync();
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async rebuildViews(): Promise<void> {
    // Every manifest is read before any view changes, so a damaged one changes nothing.
    const states = await Promise.all(
      this.datasets.map(async (dataset) => {
        const dir = path.join(this.root, dataset.name);
        const manifests = await readAllManifests(dir, dataset.name);
        return { dataset, manifests, files: manifests.flatMap((m) => liveFiles(dir, m)) };
      }),
    );
    const statements: string[] = [];
    for (const { dataset, files } of states) {
      const inFiles = files.length > 0 ? await this.describe(files) : [];
      statements.push(historyViewSql(dataset, files, inFiles), latestViewSql(dataset));
    }
    await this.withConnection('-- refresh views', async (connection) => {
      const run = async (sql: string) => {
        try {
          await connection.run(sql);
        } catch (error) {
          throw new LakeQueryError(sql, error);
        }
      };
      await run('BEGIN TRANSACTION');
      try {
        for (const sql of statements) await run(sql);
        await run('COMMIT');
      } catch (error) {
        try {
          await run('ROLLBACK');
        } catch (rollbackError) {
          throw new AggregateError(
            [error, rollbackError],
            'lake: refreshing the views and rolling back failed',
            {
              cause: rollbackError,
            },
          );
        }
        throw error;
      }
    });
    this.scopes.clear();
    for (const { dataset, manifests } of states) this.scopes.set(dataset.name, manifests);
  }

  private async describe(files: readonly string[]): Promise<ViewColumn[]> {
    const rows = await this.query(describeSourceSql(files));
    return rows.map((r) => ({ name: String(r.column_name), type: String(r.column_type) }));
  }

  private withConnection<T>(sql: string, work: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    return this.operation(sql, async () => {
      const connection = await this.connect();
      try {
        return await work(connection);
      } finally {
        this.disconnect(connection);
      }
    });
  }

  private async connect(): Promise<DuckDBConnection> {
    const connection = await this.instance.connect();
    this.connections.add(connection);
    return connection;
  }

  private disconnect(connection: DuckDBConnection): void {
    if (this.connections.delete(connection)) connection.closeSync();
  }

  /**
   * Runs one unit of work that close() must wait for, registered before its first await so a
   * close() that starts meanwhile sees it. DuckDB's errors get a type and the SQL.
   */
  private async operation<T>(sql: string, work: () => Promise<T>): Promise<T> {
    if (this.closing) throw new LakeClosedError();
    const running = work();
    this.inFlight.add(running);
    try {
      return await running;
    } catch (error) {
      throw error instanceof TierflowError ? error : new LakeQueryError(sql, error);
    } finally {
      this.inFlight.delete(running);
    }
  }
}

/** Opens the lake under `root` for SQL, with views for each of `datasets`. */
export function openLakeQuery(
  root: string,
  datasets: readonly AnyDataset[],
  options?: LakeQueryOptions,
): Promise<DuckDBLake> {
  return DuckDBLake.open(root, datasets, options);
}

function toDuckDBParams(
  params: LakeParams | undefined,
): DuckDBValue[] | Record<string, DuckDBValue> | undefined {
  if (params === undefined) return undefined;
  return Array.isArray(params)
    ? [...(params as readonly LakeParam[])]
    : { ...(params as Record<string, LakeParam>) };
}

function rowObject(columns: readonly string[], values: readonly DuckDBValue[]): LakeRow {
  const row: LakeRow = {};
  columns.forEach((name, i) => {
    row[name] = toLakeValue(values[i] ?? null);
  });
  return row;
}
