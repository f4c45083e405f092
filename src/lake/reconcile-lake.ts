import type { Dataset } from '../core/index.ts';
import type { DuckDBLake } from './duckdb-lake.ts';
import { quoteIdent } from './duckdb-sql.ts';
import { duckdbCanonical } from './reconcile-canonical.ts';
import type { DaySummary, RowDigest, TimeRange } from './reconcile-queries.ts';
import { digestQuery, parseDigest, parseSummary, summaryQuery } from './reconcile-queries.ts';
import { latestViewName } from './views.ts';

type AnyDataset = Dataset<unknown, unknown>;

/**
 * Reconciliation's side of the lake: the latest view of each dataset, which is what the hot
 * table should equal (deletes hidden, newest position per key), as of the lake's last refresh.
 */
export class LakeSide {
  constructor(private readonly lake: DuckDBLake) {}

  async summaries(dataset: AnyDataset, range: TimeRange): Promise<DaySummary[]> {
    const query = summaryQuery(duckdbCanonical, dataset, this.view(dataset), range);
    return (await this.lake.query(query.sql, query.params)).map(parseSummary);
  }

  /** Digests sorted by key hash, in DuckDB's chunks. */
  async *digests(dataset: AnyDataset, range: TimeRange): AsyncGenerator<RowDigest[], void, undefined> {
    const query = digestQuery(duckdbCanonical, dataset, this.view(dataset), range);
    for await (const batch of this.lake.stream(query.sql, query.params)) {
      if (batch.rows.length > 0) yield batch.rows.map((row) => parseDigest(row, dataset.primaryKey.length));
    }
  }

  private view(dataset: AnyDataset): string {
    return quoteIdent(latestViewName(dataset));
  }
}
