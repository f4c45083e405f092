import type pg from 'pg';
import type { Dataset } from '../core/index.ts';
import { TierflowError } from '../core/index.ts';
import { applyDelete } from '../hot/delete.ts';
import type { PreparedBatch, UpsertStrategy } from '../hot/upsert.ts';
import { applyUpsert } from '../hot/upsert.ts';
import type { LogEntry, Position } from '../log/log.ts';
import type { ChangeOp } from '../core/index.ts';
import { EventDecodeError } from '../events/event-errors.ts';
import { opFromWire } from '../events/wire-op.ts';
import type { ColumnarLayout } from '../events/event-columnar.ts';
import { columnarLayout, isColumnarEvent } from '../events/event-columnar.ts';
import { entryCopyText } from './entry-copy-text.ts';
import { rowSequence, walEntryOf } from './wal-entry.ts';

/** A WAL entry as the hot tier applies it: its rows decoded only if they are needed. */
export interface HotEntry {
  sequence: Position;
  table: string;
  operation: ChangeOp;
  /** Rows in the entry. */
  count: number;
  rows(): Record<string, unknown>[];
  /** The rows as COPY text with their sequences (entry-copy-text.ts), where the fast path applies. */
  copyText?: Uint8Array;
}

/**
 * Prepares a log entry for the hot tier. A version 2 upsert of the dataset's columns gets its COPY
 * text built from its bytes, and is decoded only if the plain COPY cannot take it (a key that
 * exists already); anything else is decoded now.
 */
export function hotEntryOf(
  entry: LogEntry,
  datasetOf: (name: string) => Dataset<unknown, unknown>,
): HotEntry {
  let rows: Record<string, unknown>[] | undefined;
  const decoded = () => (rows ??= walEntryOf(entry, datasetOf).data);
  if (isColumnarEvent(entry.payload)) {
    let layout: ColumnarLayout;
    let copyText: Uint8Array | undefined;
    try {
      layout = columnarLayout(entry.payload);
      copyText = entryCopyText(entry.payload, layout, datasetOf(layout.header.dataset), entry.position);
    } catch (error) {
      if (error instanceof TierflowError) throw error; // an unknown dataset, say
      throw new EventDecodeError(
        `WAL entry ${entry.position} cannot be decoded: ${(error as Error).message}`,
        error,
      );
    }
    const { header } = layout;
    if (copyText)
      return {
        sequence: entry.position,
        table: header.dataset,
        operation: opFromWire(header.op),
        count: header.count,
        rows: decoded,
        copyText,
      };
  }
  const wal = walEntryOf(entry, datasetOf);
  return {
    sequence: wal.sequence,
    table: wal.table,
    operation: wal.operation,
    count: wal.data.length,
    rows: () => wal.data,
  };
}

/** The rows of consecutive entries as one batch, decoded when first read; COPY text where every entry has it. */
function batchOf(entries: readonly HotEntry[]): PreparedBatch {
  let built: { rows: Record<string, unknown>[]; sequences: bigint[] } | undefined;
  const build = () => {
    if (built) return built;
    built = { rows: [], sequences: [] };
    for (const entry of entries)
      entry.rows().forEach((row, i) => {
        built!.rows.push(row);
        built!.sequences.push(rowSequence(entry.sequence, i));
      });
    return built;
  };
  const texts = entries.map((e) => e.copyText);
  return {
    get rows() {
      return build().rows;
    },
    get sequences() {
      return build().sequences;
    },
    ...(texts.every((t) => t !== undefined) ? { copyText: texts } : {}),
  };
}

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
  entries: readonly HotEntry[],
  datasetOf: (name: string) => Dataset<unknown, unknown>,
  strategy: UpsertStrategy,
): Promise<number> {
  let applied = 0;
  for (let start = 0; start < entries.length;) {
    const first = entries[start]!;
    const remove = first.operation === 'd';
    let end = start + 1;
    while (
      end < entries.length &&
      entries[end]!.table === first.table &&
      (entries[end]!.operation === 'd') === remove
    )
      end++;
    const batch = batchOf(entries.slice(start, end));
    const dataset = datasetOf(first.table);
    applied += remove
      ? (await applyDelete(client, schema, dataset, batch)).length
      : await applyUpsert(client, schema, dataset, batch, strategy);
    start = end;
  }
  return applied;
}
