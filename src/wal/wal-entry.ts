import type { Dataset } from '../core/index.ts';
import { ROW_BITS } from '../lake/position-map.ts';
import type { LogEntry, Position } from '../log/log.ts';
import type { ChangeOp } from '../core/index.ts';
import { decodeEvent } from '../events/data-written-event.ts';

export const WAL_TOPIC = 'wal';

/**
 * One entry of the write-ahead log: a batch of changes to one dataset, written once and applied
 * from there to both tiers. Its `sequence` is its log position; row `i` of the entry carries the
 * row sequence `sequence × 2^20 + i`, which the hot tier stores in `_seq` (its guard against
 * older changes) and the lake in `_position`, so the two tiers number every change alike.
 *
 * Datasets and topics: every dataset shares one topic, `wal`. The log orders it totally, so
 * entries are applied in exactly the order they were acknowledged, across datasets too (a
 * company and its bars, a delete and a later re-insert), checkpoints are one position per
 * processor, and a replay from a time is one seek.
 *
 * The codec is stage 1's event codec (data-written-event.ts): columnar text, wire format version 2;
 * bench/wal.ts measures it against columnar JSON (version 1, still read) and Arrow IPC.
 */
export interface WALEntry {
  sequence: Position;
  /** When the log took the entry, ms since the epoch. */
  timestamp: number;
  operation: ChangeOp;
  /** The dataset's table name. */
  table: string;
  data: Record<string, unknown>[];
  metadata: {
    schemaVersion: number;
    eventTimes: string[];
    origin: string;
    traceparent?: string;
  };
}

/** The sequence of row `index` of the entry at `position`: (entry position, row index) packed in one bigint. */
export function rowSequence(position: Position, index: number): bigint {
  return (position << ROW_BITS) + BigInt(index);
}

export function walEntryOf(
  entry: LogEntry,
  datasetOf: (name: string) => Dataset<unknown, unknown>,
): WALEntry {
  const event = decodeEvent(entry.payload, datasetOf);
  return {
    sequence: entry.position,
    timestamp: entry.timestamp,
    operation: event.op,
    table: event.dataset,
    data: event.rows,
    metadata: {
      schemaVersion: event.schemaVersion,
      eventTimes: event.eventTimes,
      origin: event.origin ?? 'wal',
      ...(event.traceparent ? { traceparent: event.traceparent } : {}),
    },
  };
}
