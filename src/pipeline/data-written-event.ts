import type { Dataset } from '../core/index.ts';
import { TierflowError } from '../core/index.ts';

/** What a batch does to its rows. Repositories write upserts and deletes; insert and update are for other sources. */
export type ChangeOperation = 'insert' | 'update' | 'upsert' | 'delete';
const OPERATIONS: readonly string[] = ['insert', 'update', 'upsert', 'delete'];

/**
 * One batch of changes to one dataset, on the wire: stage 1's DataWrittenEvent (a committed hot
 * write, on its way to the lake) and stage 2's WAL entry (a change on its way to both tiers) are
 * the same record. The rows are validated and normalised (keys only, for deletes), so no reader
 * validates again and every tier stores exactly the same values.
 */
export interface DataWrittenEvent {
  dataset: string;
  schemaVersion: number;
  op: ChangeOperation;
  rows: Record<string, unknown>[];
  /** Event time of each row (its dataset's event-time column). */
  eventTimes: string[];
  /** When the hot transaction committed, ISO. */
  writtenAt: string;
  /** W3C traceparent of the write, when tracing is on. */
  traceparent?: string;
  /** Who wrote it: 'dual-write', 'wal', or a caller's name (the WAL's audit trail shows it). */
  origin?: string;
}

export class EventDecodeError extends TierflowError {
  constructor(message: string, cause?: unknown) {
    super('EVENT_DECODE', message, { cause });
  }
}

const decoder = new TextDecoder();

/**
 * On the wire the rows travel column by column: `{ columns, values: [column][row] }`, so column
 * names are written once per event instead of once per row (about half the bytes of row objects
 * for market data). Event times equal to the row's event-time column are not repeated either.
 */
interface WireEvent {
  dataset: string;
  schemaVersion: number;
  op: DataWrittenEvent['op'];
  columns: string[];
  values: unknown[][];
  eventTimes?: string[];
  writtenAt: string;
  traceparent?: string;
  origin?: string;
}

/** JSON, with int64 values as decimal strings (JSON numbers lose precision past 2^53). */
export function encodeEvent(event: DataWrittenEvent, eventTimeColumn?: string): Uint8Array {
  const columns = event.rows.length > 0 ? Object.keys(event.rows[0]!) : [];
  // int64 values become strings here, column by column, rather than through a JSON.stringify
  // replacer, which would be called for every value of the event.
  const values = columns.map((c) =>
    event.rows.map((r) => {
      const v = r[c] ?? null;
      return typeof v === 'bigint' ? v.toString() : v;
    }),
  );
  const derived =
    eventTimeColumn !== undefined &&
    columns.includes(eventTimeColumn) &&
    event.rows.every((r, i) => r[eventTimeColumn] === event.eventTimes[i]);
  const wire: WireEvent = {
    dataset: event.dataset,
    schemaVersion: event.schemaVersion,
    op: event.op,
    columns,
    values,
    ...(derived ? {} : { eventTimes: event.eventTimes }),
    writtenAt: event.writtenAt,
    ...(event.traceparent ? { traceparent: event.traceparent } : {}),
    ...(event.origin ? { origin: event.origin } : {}),
  };
  return Buffer.from(JSON.stringify(wire));
}

/** Decodes an event and restores the int64 columns of its dataset to bigint. */
export function decodeEvent(
  bytes: Uint8Array,
  datasetOf: (name: string) => Dataset<unknown, unknown>,
): DataWrittenEvent {
  let wire: WireEvent;
  try {
    wire = JSON.parse(decoder.decode(bytes)) as WireEvent;
  } catch (error) {
    throw new EventDecodeError(`a data-written event is not valid JSON: ${(error as Error).message}`, error);
  }
  if (
    typeof wire?.dataset !== 'string' ||
    !Array.isArray(wire.columns) ||
    !Array.isArray(wire.values) ||
    wire.columns.length !== wire.values.length
  ) {
    throw new EventDecodeError('a data-written event lacks dataset, columns or values');
  }
  if (!OPERATIONS.includes(wire.op))
    throw new EventDecodeError(`a data-written event has an unknown operation "${String(wire.op)}"`);
  const dataset = datasetOf(wire.dataset);
  const count = wire.values[0]?.length ?? 0;
  const int64 = new Set(dataset.columns.filter((c) => c.kind === 'int64').map((c) => c.name));
  const rows: Record<string, unknown>[] = Array.from({ length: count }, () => ({}));
  wire.columns.forEach((column, c) => {
    const values = wire.values[c]!;
    if (values.length !== count)
      throw new EventDecodeError(
        `column "${column}" of a data-written event has ${values.length} values, expected ${count}`,
      );
    const big = int64.has(column);
    for (let i = 0; i < count; i++) {
      const v = values[i];
      rows[i]![column] = big && typeof v === 'string' ? BigInt(v) : v;
    }
  });
  const eventTimes = wire.eventTimes ?? rows.map((r) => r[dataset.eventTime] as string);
  if (eventTimes.length !== count)
    throw new EventDecodeError('a data-written event has a different number of event times and rows');
  return {
    dataset: wire.dataset,
    schemaVersion: wire.schemaVersion,
    op: wire.op,
    rows,
    eventTimes,
    writtenAt: wire.writtenAt,
    ...(wire.traceparent ? { traceparent: wire.traceparent } : {}),
    ...(wire.origin ? { origin: wire.origin } : {}),
  };
}
