import type { Dataset } from '../core/index.ts';
import { normaliseFields } from '../core/index.ts';
import type { Log } from '../log/log.ts';
import type { ChangeOp } from '../core/index.ts';
import { WAL_TOPIC, rowSequence, walEntryOf } from './wal-entry.ts';

export interface RecordVersion {
  /** The entry's log position: what `tierflow replay --from/--to` take. */
  entry: bigint;
  /** The row's WAL sequence (entry position × 2^20 + row index): its `_seq` in PostgreSQL, `_position` in the lake. */
  sequence: bigint;
  /** When the WAL took it. */
  at: Date;
  operation: ChangeOp;
  origin: string;
  schemaVersion: number;
  /** The row as written (the key alone, for a delete). */
  row: Record<string, unknown>;
}

/**
 * The audit trail of one record: every change the WAL holds for the key, oldest first. The key is
 * normalised like a write's (so `2024-03-04T14:30:00Z` finds the bar stored with microseconds).
 * Reads the whole topic: it answers an audit question, not a hot-path one.
 */
export async function recordHistory(options: {
  log: Log;
  dataset: Dataset<unknown, unknown>;
  key: Readonly<Record<string, unknown>>;
  datasetOf: (name: string) => Dataset<unknown, unknown>;
  topic?: string;
}): Promise<RecordVersion[]> {
  const { dataset } = options;
  const key = normaliseFields(
    dataset,
    Object.fromEntries(dataset.primaryKey.map((k) => [k, options.key[k]])),
    { rowIndex: 0, required: dataset.primaryKey },
  ) as Record<string, unknown>;
  const same = (row: Record<string, unknown>) => dataset.primaryKey.every((k) => row[k] === key[k]);
  const topic = options.topic ?? WAL_TOPIC;
  if (!(await options.log.topics()).includes(topic)) return [];
  const versions: RecordVersion[] = [];
  for await (const batch of options.log.read(topic, { from: 'earliest', follow: false })) {
    for (const logEntry of batch) {
      if (logEntry.key !== dataset.name) continue;
      const entry = walEntryOf(logEntry, options.datasetOf);
      entry.data.forEach((row, i) => {
        if (!same(row)) return;
        versions.push({
          entry: entry.sequence,
          sequence: rowSequence(entry.sequence, i),
          at: new Date(entry.timestamp),
          operation: entry.operation,
          origin: entry.metadata.origin,
          schemaVersion: entry.metadata.schemaVersion,
          row,
        });
      });
    }
  }
  return versions;
}
