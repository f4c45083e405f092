import type { Dataset } from '../core/index.ts';
import { TierflowError } from '../core/index.ts';

/**
 * Stage 1's event: one committed hot write of one dataset, as the cold consumer needs it. The
 * rows are the normalised rows the hot tier stored (or the keys, for deletes), so the cold side
 * never validates again and stores exactly what the hot side holds.
 */
export interface DataWrittenEvent {
  dataset: string;
  schemaVersion: number;
  op: 'upsert' | 'delete';
  rows: Record<string, unknown>[];
  /** Event time of each row (its dataset's event-time column). */
  eventTimes: string[];
  /** When the hot transaction committed, ISO. */
  writtenAt: string;
  /** W3C traceparent of the write, when tracing is on. */
  traceparent?: string;
}

export class EventDecodeError extends TierflowError {
  constructor(message: string, cause?: unknown) {
    super('EVENT_DECODE', message, { cause });
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** JSON, with int64 values as decimal strings (JSON numbers lose precision past 2^53). */
export function encodeEvent(event: DataWrittenEvent): Uint8Array {
  return encoder.encode(
    JSON.stringify(event, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value)),
  );
}

/** Decodes an event and restores the int64 columns of its dataset to bigint. */
export function decodeEvent(
  bytes: Uint8Array,
  datasetOf: (name: string) => Dataset<unknown, unknown>,
): DataWrittenEvent {
  let event: DataWrittenEvent;
  try {
    event = JSON.parse(decoder.decode(bytes)) as DataWrittenEvent;
  } catch (error) {
    throw new EventDecodeError(`a data-written event is not valid JSON: ${(error as Error).message}`, error);
  }
  if (
    typeof event?.dataset !== 'string' ||
    !Array.isArray(event.rows) ||
    !Array.isArray(event.eventTimes) ||
    event.rows.length !== event.eventTimes.length
  ) {
    throw new EventDecodeError('a data-written event lacks dataset, rows or event times');
  }
  const dataset = datasetOf(event.dataset);
  const int64 = dataset.columns.filter((c) => c.kind === 'int64').map((c) => c.name);
  if (int64.length > 0) {
    for (const row of event.rows) {
      for (const name of int64) {
        const v = row[name];
        if (typeof v === 'string') row[name] = BigInt(v);
      }
    }
  }
  return event;
}
