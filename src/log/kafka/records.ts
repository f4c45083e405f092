import type { RecordsBatch as Batch } from '@platformatic/kafka';
import type { LogEntry } from '../log.ts';
import { positionOf } from '../partition-position.ts';

const IS_CONTROL = 0x20;
const LOG_APPEND_TIME = 0x08;
/** Bytes of a record batch's header, shared by its records when counting a topic's size. */
export const BATCH_HEADER_BYTES = 61;

export interface DecodedRecord {
  offset: bigint;
  /** Bytes the record takes in the log, with its share of its batch's header. */
  bytes: number;
  entry: () => LogEntry;
}

/**
 * The records of fetched batches at or after `from`, in offset order. Control batches
 * (transaction markers) are skipped. The timestamp is the broker's when the topic stamps
 * LogAppendTime (every batch's max timestamp), else the producer's (first timestamp + delta).
 */
export function* recordsOf(
  topic: string,
  partition: number,
  batches: readonly Batch[],
  from: bigint,
): Generator<DecodedRecord> {
  for (const batch of batches) {
    if (batch.attributes & IS_CONTROL) continue;
    const share = Math.ceil(BATCH_HEADER_BYTES / Math.max(1, batch.records.length));
    const appendTime = (batch.attributes & LOG_APPEND_TIME) !== 0;
    for (const record of batch.records) {
      const offset = batch.firstOffset + BigInt(record.offsetDelta);
      if (offset < from) continue;
      yield {
        offset,
        bytes: record.length + share,
        entry: () => {
          const headers: Record<string, string> = {};
          for (const [name, value] of record.headers)
            if (name !== null) headers[name.toString()] = value?.toString() ?? '';
          return {
            topic,
            position: positionOf(partition, offset),
            key: record.key === null ? undefined : record.key.toString(),
            headers,
            payload: record.value ?? new Uint8Array(0),
            timestamp: Number(appendTime ? batch.maxTimestamp : batch.firstTimestamp + record.timestampDelta),
          };
        },
      };
    }
  }
}

/** The offset after the last record of the fetched batches (control batches included). */
export function nextOffsetAfter(batches: readonly Batch[]): bigint | undefined {
  const last = batches.at(-1);
  return last === undefined ? undefined : last.firstOffset + BigInt(last.lastOffsetDelta) + 1n;
}
