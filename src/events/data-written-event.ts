import type { ChangeOp, Dataset } from '../core/index.ts';
import { TierflowError } from '../core/index.ts';
import { decodeColumnarEvent, encodeColumnarEvent, isColumnarEvent } from './event-columnar.ts';
import { decodeJsonEvent, isJsonEvent } from './event-json.ts';
import { EventDecodeError } from './event-errors.ts';
import { opFromWire, opToWire } from './wire-op.ts';
import type { WireEvent } from './event-wire.ts';

/**
 * One batch of changes to one dataset, on the wire: stage 1's DataWrittenEvent (a committed hot
 * write, on its way to the lake) and stage 2's WAL entry (a change on its way to both tiers) are
 * the same record. The rows are validated and normalised (keys only, for deletes), so no reader
 * validates again and every tier stores exactly the same values.
 */
export interface DataWrittenEvent {
  dataset: string;
  schemaVersion: number;
  /** What the batch does to its rows: repositories write upserts ('u') and deletes ('d'). */
  op: ChangeOp;
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

const decoder = new TextDecoder();

/**
 * The bytes of an event, in the wire format of event-columnar.ts (version 2). Event times equal
 * to the row's event-time column are not repeated. A value that cannot travel (text with a NUL,
 * which the validator refuses first) is a ValidationError naming its row and column.
 */
export function encodeEvent(event: DataWrittenEvent, dataset: Dataset<unknown, unknown>): Uint8Array {
  const columns = event.rows.length > 0 ? Object.keys(event.rows[0]!) : [];
  const values = columns.map((c) => event.rows.map((r) => r[c]));
  const time = dataset.eventTime;
  const derived = columns.includes(time) && event.rows.every((r, i) => r[time] === event.eventTimes[i]);
  return encodeColumnarEvent(
    {
      dataset: event.dataset,
      schemaVersion: event.schemaVersion,
      op: opToWire(event.op),
      columns,
      values,
      ...(derived ? {} : { eventTimes: event.eventTimes }),
      writtenAt: event.writtenAt,
      ...(event.traceparent ? { traceparent: event.traceparent } : {}),
      ...(event.origin ? { origin: event.origin } : {}),
    },
    dataset,
  );
}

/** An event as decoded, still column by column: `values[c][i]` is row i's value of `columns[c]`. */
export interface EventColumns extends Omit<DataWrittenEvent, 'rows'> {
  columns: string[];
  values: unknown[][];
  /** Rows in the event. */
  count: number;
}

function wireOf(bytes: Uint8Array, datasetOf: (name: string) => Dataset<unknown, unknown>): WireEvent {
  try {
    if (isColumnarEvent(bytes)) return decodeColumnarEvent(bytes, datasetOf);
    if (isJsonEvent(bytes)) return decodeJsonEvent(decoder.decode(bytes));
  } catch (error) {
    if (error instanceof TierflowError) throw error; // an unknown dataset, say
    throw new EventDecodeError(`a data-written event cannot be decoded: ${(error as Error).message}`, error);
  }
  throw new EventDecodeError(
    'a data-written event is in no known format (it starts with neither "TF\\x02" nor "{")',
  );
}

/**
 * Decodes an event without building row objects (the lake takes columns as they are), with every
 * value of its dataset's kinds restored (int64 as bigint). Reads both wire formats.
 */
export function decodeEventColumns(
  bytes: Uint8Array,
  datasetOf: (name: string) => Dataset<unknown, unknown>,
): EventColumns {
  const wire = wireOf(bytes, datasetOf);
  if (
    typeof wire?.dataset !== 'string' ||
    !Array.isArray(wire.columns) ||
    !Array.isArray(wire.values) ||
    wire.columns.length !== wire.values.length
  ) {
    throw new EventDecodeError('a data-written event lacks dataset, columns or values');
  }
  const op = opFromWire(wire.op);
  const dataset = datasetOf(wire.dataset);
  const count = wire.count;
  const int64 = new Set(dataset.columns.filter((c) => c.kind === 'int64').map((c) => c.name));
  wire.columns.forEach((column, c) => {
    const values = wire.values[c]!;
    if (!Array.isArray(values) || values.length !== count)
      throw new EventDecodeError(
        `column "${column}" of a data-written event has ${Array.isArray(values) ? values.length : 'no'} values, expected ${count}`,
      );
    // Version 1 carries int64 values as strings.
    if (!int64.has(column)) return;
    for (let i = 0; i < count; i++) {
      const v = values[i];
      if (typeof v === 'string') values[i] = BigInt(v);
    }
  });
  const timeColumn = wire.columns.indexOf(dataset.eventTime);
  const eventTimes = wire.eventTimes ?? (timeColumn >= 0 ? (wire.values[timeColumn] as string[]) : []);
  if (eventTimes.length !== count)
    throw new EventDecodeError('a data-written event has a different number of event times and rows');
  return {
    dataset: wire.dataset,
    schemaVersion: wire.schemaVersion,
    op,
    columns: wire.columns,
    values: wire.values,
    count,
    eventTimes,
    writtenAt: wire.writtenAt,
    ...(wire.traceparent ? { traceparent: wire.traceparent } : {}),
    ...(wire.origin ? { origin: wire.origin } : {}),
  };
}

/** Decodes an event into row objects, with the int64 columns of its dataset as bigint. */
export function decodeEvent(
  bytes: Uint8Array,
  datasetOf: (name: string) => Dataset<unknown, unknown>,
): DataWrittenEvent {
  const { columns, values, count, ...event } = decodeEventColumns(bytes, datasetOf);
  const rows: Record<string, unknown>[] = Array.from({ length: count }, () => ({}));
  columns.forEach((column, c) => {
    const list = values[c]!;
    for (let i = 0; i < count; i++) rows[i]![column] = list[i];
  });
  return { ...event, rows };
}
