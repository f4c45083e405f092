/**
 * What every wire format of a data-written event decodes to before the dataset's types are
 * restored: the event's fields, and each column's values in row order. Formats: version 1,
 * columnar JSON (event-json.ts); version 2, columnar text (event-columnar.ts), written now.
 */
export interface WireEvent {
  dataset: string;
  schemaVersion: number;
  /** The operation's wire word (wire-op.ts). */
  op: string;
  columns: string[];
  values: unknown[][];
  /** Rows in the event. */
  count: number;
  /** Absent when every row's event time is its dataset's event-time column. */
  eventTimes?: string[];
  writtenAt: string;
  traceparent?: string;
  origin?: string;
}
