import type pg from 'pg';
import type { Dataset } from '../core/index.ts';
import { TierflowError } from '../core/index.ts';
import { quoteIdent } from './duckdb-sql.ts';
import { postgresCanonical } from './reconcile-canonical.ts';
import { ReconcileError } from './reconcile-errors.ts';
import type { BuiltQuery, DaySummary, RowDigest, TimeRange } from './reconcile-queries.ts';
import { digestQuery, parseDigest, parseSummary, summaryQuery } from './reconcile-queries.ts';

type AnyDataset = Dataset<unknown, unknown>;

/** Rows fetched per round trip while streaming digests; bounds what a side holds in memory. */
const FETCH_ROWS = 2000;

/**
 * Reconciliation's side of the hot tier: the dataset tables read on one client, inside the
 * caller's transaction, so that counts and digests come from one snapshot. Only the dataset's
 * declared columns are read; the hot-only `_seq` and `_updated_at` play no part.
 */
export class HotSide {
  private cursors = 0;

  constructor(
    private readonly client: pg.ClientBase,
    private readonly schema: string,
  ) {}

  /** One snapshot for every query that follows, so counts and digests agree with each other. */
  async begin(): Promise<void> {
    await this.run({ sql: 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', params: [] });
  }

  async commit(): Promise<void> {
    await this.run({ sql: 'COMMIT', params: [] });
  }

  /** md5 over text hashes the database's bytes: only a UTF-8 database matches the lake's. */
  async checkEncoding(): Promise<void> {
    const result = await this.run({ sql: 'SHOW server_encoding', params: [] });
    const encoding = String(result.rows[0]?.server_encoding ?? '');
    if (encoding !== 'UTF8') {
      throw new ReconcileError(`the hot database's encoding is ${encoding}; reconciliation needs UTF8`);
    }
  }

  async summaries(dataset: AnyDataset, range: TimeRange): Promise<DaySummary[]> {
    const result = await this.run(summaryQuery(postgresCanonical, dataset, this.table(dataset), range));
    return result.rows.map(parseSummary);
  }

  /** Digests sorted by key hash, through a server-side cursor, FETCH_ROWS at a time. */
  async *digests(dataset: AnyDataset, range: TimeRange): AsyncGenerator<RowDigest[], void, undefined> {
    const query = digestQuery(postgresCanonical, dataset, this.table(dataset), range);
    const cursor = quoteIdent(`tierflow_reconcile_${++this.cursors}`);
    await this.run({ sql: `DECLARE ${cursor} NO SCROLL CURSOR FOR ${query.sql}`, params: query.params });
    let failed = false;
    try {
      for (;;) {
        const batch = await this.run({ sql: `FETCH FORWARD ${FETCH_ROWS} FROM ${cursor}`, params: [] });
        if (batch.rows.length === 0) return;
        yield batch.rows.map((row) => parseDigest(row, dataset.primaryKey.length));
      }
    } catch (error) {
      // The transaction is aborted now: CLOSE would only fail too and hide the real error.
      failed = true;
      throw error;
    } finally {
      if (!failed) await this.run({ sql: `CLOSE ${cursor}`, params: [] });
    }
  }

  private table(dataset: AnyDataset): string {
    return `${quoteIdent(this.schema)}.${quoteIdent(dataset.name)}`;
  }

  private async run(query: BuiltQuery): Promise<pg.QueryResult<Record<string, unknown>>> {
    try {
      return await this.client.query<Record<string, unknown>>(query.sql, query.params);
    } catch (error) {
      if (error instanceof TierflowError) throw error;
      throw new ReconcileError(`hot query failed: ${(error as Error).message}\n  sql: ${query.sql}`, error);
    }
  }
}
