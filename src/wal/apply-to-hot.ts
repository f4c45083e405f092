import type pg from 'pg';
import type { Dataset } from '../core/index.ts';
import { applyDelete } from '../hot/delete.ts';
import type { UpsertStrategy } from '../hot/upsert.ts';
import { applyUpsert } from '../hot/upsert.ts';
import type { WALEntry } from './wal-entry.ts';
import { rowSequence } from './wal-entry.ts';

/**
 * Applies WAL entries, in order, inside the caller's transaction. Consecutive entries of one
 * dataset and one kind (writes, or deletes) go to PostgreSQL as one statement; every row carries
 * its row sequence, and the sequence guard makes the whole idempotent: a row already at that
 * sequence or a newer one is left as it is, so applying an entry twice, or an old one late,
 * changes nothing. Returns the rows inserted, changed or deleted.
 */
export async function applyToHot(
  client: pg.PoolClient,
  schema: string,
  entries: readonly WALEntry[],
  datasetOf: (name: string) => Dataset<unknown, unknown>,
  strategy: UpsertStrategy,
): Promise<number> {
  let applied = 0;
  for (let start = 0; start < entries.length;) {
    const first = entries[start]!;
    const remove = first.operation === 'delete';
    let end = start + 1;
    while (
      end < entries.length &&
      entries[end]!.table === first.table &&
      (entries[end]!.operation === 'delete') === remove
    )
      end++;
    const rows: Record<string, unknown>[] = [];
    const sequences: bigint[] = [];
    for (const entry of entries.slice(start, end)) {
      entry.data.forEach((row, i) => {
        rows.push(row);
        sequences.push(rowSequence(entry.sequence, i));
      });
    }
    const dataset = datasetOf(first.table);
    applied += remove
      ? (await applyDelete(client, schema, dataset, { rows, sequences })).length
      : await applyUpsert(client, schema, dataset, { rows, sequences }, strategy);
    start = end;
  }
  return applied;
}
