import { describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/core/index.ts';
import { ValidationError, defineDataset, t, validatorFor } from '../../src/core/index.ts';
import type { DataWrittenEvent } from '../../src/events/data-written-event.ts';
import { EventDecodeError } from '../../src/events/event-errors.ts';
import { decodeEvent, decodeEventColumns, encodeEvent } from '../../src/events/data-written-event.ts';
import { encodeJsonEvent } from '../../src/events/event-json.ts';
import { everyKind, everyKindDataset } from '../support/every-kind.ts';

const datasets = (name: string) => {
  if (name !== everyKind.name) throw new Error(`unknown dataset ${name}`);
  return everyKind as unknown as Dataset<unknown, unknown>;
};
const dataset = everyKindDataset;

const rows = validatorFor(everyKind)([
  {
    id: 'a\ttab\nnewline\\back "quoted" ünïcødé 📈',
    at: '2024-03-04T14:30:00.123456Z',
    n32: -2147483648,
    n64: 9223372036854775807n,
    f: -0,
    price: '-123456789012.345678',
    flag: false,
    listed: '2024-02-29',
    doc: { nested: [1, 'two', null], empty: '' },
    note: '',
  },
  {
    id: '',
    at: '2024-03-05T00:00:00Z',
    n32: null,
    n64: null,
    f: 1.7976931348623157e308,
    price: null,
    flag: true,
    listed: null,
    doc: null,
    note: null,
  },
  {
    id: 'c',
    at: '2024-03-06T00:00:00Z',
    n32: 7,
    n64: -1n,
    f: 0.1,
    price: '0.000001',
    flag: null,
    listed: '1970-01-01',
    doc: [],
    note: 'x',
  },
]) as Record<string, unknown>[];

const event = (over: Partial<DataWrittenEvent> = {}): DataWrittenEvent => ({
  dataset: everyKind.name,
  schemaVersion: 3,
  op: 'u',
  rows,
  eventTimes: rows.map((r) => r.at as string),
  writtenAt: '2024-03-06T00:00:01.000Z',
  origin: 'wal',
  ...over,
});

describe('data-written event codec', () => {
  it('round-trips every kind, nulls, empty text and characters that need escaping elsewhere', () => {
    const decoded = decodeEvent(encodeEvent(event({ traceparent: '00-abc-def-01' }), dataset), datasets);
    expect(decoded).toEqual(event({ traceparent: '00-abc-def-01' }));
    expect(Object.is(decoded.rows[0]!.f, -0)).toBe(true);
    expect(decoded.rows[1]!.note).toBeNull();
    expect(decoded.rows[0]!.note).toBe('');
    expect(decoded.rows[0]!.n64).toBe(9223372036854775807n);
  });

  it('carries event times that differ from the event-time column, and deletes of keys only', () => {
    const keys = rows.map((r) => ({ id: r.id, at: r.at }));
    const times = [
      '2025-01-01T00:00:00.000000Z',
      '2025-01-02T00:00:00.000000Z',
      '2025-01-03T00:00:00.000000Z',
    ];
    const decoded = decodeEventColumns(
      encodeEvent(event({ op: 'd', rows: keys, eventTimes: times }), dataset),
      datasets,
    );
    expect(decoded).toMatchObject({ op: 'd', columns: ['id', 'at'], count: 3, eventTimes: times });
    expect(decoded.values[0]).toEqual(rows.map((r) => r.id));
  });

  it('encodes an empty batch', () => {
    expect(decodeEvent(encodeEvent(event({ rows: [], eventTimes: [] }), dataset), datasets).rows).toEqual([]);
  });

  it('still reads version 1 (columnar JSON) payloads', () => {
    const columns = Object.keys(rows[0]!);
    const v1 = encodeJsonEvent({
      ...event(),
      op: 'upsert', // version 1 carries the word
      columns,
      values: columns.map((c) => rows.map((r) => r[c])),
    });
    expect(new TextDecoder().decode(v1.subarray(0, 1))).toBe('{');
    // Version 1 is JSON: -0 comes back as 0.
    const expected = event({ rows: rows.map((r, i) => (i === 0 ? { ...r, f: 0 } : r)) });
    expect(decodeEvent(v1, datasets)).toEqual(expected);
  });

  it('refuses a payload cut short, one with trailing bytes, and one in no known format', () => {
    const bytes = encodeEvent(event(), dataset);
    expect(() => decodeEvent(bytes.subarray(0, bytes.length - 3), datasets)).toThrow(EventDecodeError);
    expect(() => decodeEvent(new Uint8Array([...bytes, 0]), datasets)).toThrow(/bytes after the last column/);
    expect(() => decodeEvent(new TextEncoder().encode('hello'), datasets)).toThrow(/no known format/);
  });

  it('refuses text holding a NUL, naming the row and column, rather than logging an entry no one can read', () => {
    const bad = rows.map((r, i) => (i === 2 ? { ...r, note: 'a\u0000b' } : r));
    const attempt = () => encodeEvent(event({ rows: bad }), dataset);
    expect(attempt).toThrow(ValidationError);
    expect(attempt).toThrow(/row 2, field "note"/);
  });

  it('keeps a leading byte-order mark, which a default UTF-8 decoder drops', () => {
    const withBom = rows.map((r, i) => (i === 0 ? { ...r, id: '\uFEFFkey', note: '\uFEFF' } : r));
    const decoded = decodeEvent(encodeEvent(event({ rows: withBom }), dataset), datasets);
    expect(decoded.rows[0]!.id).toBe('\uFEFFkey');
    expect(decoded.rows[0]!.note).toBe('\uFEFF');
  });

  it('handles a column named like an Object property, null or not', () => {
    const odd = defineDataset({
      name: 'odd',
      version: 1,
      description: 'a column named constructor',
      columns: { id: t.text(), at: t.timestamp(), constructor: t.text().nullable() },
      primaryKey: ['id', 'at'],
      eventTime: 'at',
    }) as unknown as Dataset<unknown, unknown>;
    const oddRows = validatorFor(odd)([
      { id: 'a', at: '2024-01-01T00:00:00Z', constructor: null },
      { id: 'b', at: '2024-01-01T00:00:00Z', constructor: 'x' },
    ]) as Record<string, unknown>[];
    const payload = encodeEvent(
      { ...event(), dataset: 'odd', rows: oddRows, eventTimes: oddRows.map((r) => r.at as string) },
      odd,
    );
    const decoded = decodeEvent(payload, () => odd);
    expect(decoded.rows.map((r) => r.constructor)).toEqual([null, 'x']);
  });

  it('refuses a json value with no JSON text (a function) at validation, before any tier sees it', () => {
    expect(() => validatorFor(everyKind)([{ id: 'f', at: '2024-03-04T14:30:00Z', doc: () => 1 }])).toThrow(
      /row 0, field "doc": is not JSON-serialisable/,
    );
  });
});
