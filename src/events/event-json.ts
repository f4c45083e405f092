import type { WireEvent } from './event-wire.ts';

/**
 * Version 1 of the event wire format, columnar JSON: `{ dataset, …, columns, values }` with
 * `values[column][row]` and int64 values as decimal strings. Logs written before version 2 hold
 * it, so it is still read; `encodeJsonEvent` remains for the codec benchmark and the tests that
 * prove such logs stay readable.
 */
export function encodeJsonEvent(event: Omit<WireEvent, 'count'>): Uint8Array {
  const values = event.values.map((column) =>
    column.map((v) => (typeof v === 'bigint' ? v.toString() : (v ?? null))),
  );
  const { dataset, schemaVersion, op, columns, eventTimes, writtenAt, traceparent, origin } = event;
  return Buffer.from(
    JSON.stringify({
      dataset,
      schemaVersion,
      op,
      columns,
      values,
      eventTimes,
      writtenAt,
      traceparent,
      origin,
    }),
  );
}

/** The event of a version 1 payload, with int64 values still strings; throws SyntaxError on bad JSON. */
export function decodeJsonEvent(text: string): WireEvent {
  const wire = JSON.parse(text) as WireEvent;
  return { ...wire, count: Array.isArray(wire?.values?.[0]) ? wire.values[0].length : 0 };
}

/** Whether a payload is version 1: a JSON object. */
export function isJsonEvent(bytes: Uint8Array): boolean {
  return bytes[0] === 0x7b; // '{'
}
