import type { ColumnDef, Dataset } from '../core/index.ts';
import { ValidationError, textForm } from '../core/index.ts';
import type { WireEvent } from './event-wire.ts';

/**
 * Version 2 of the event wire format, columnar text:
 *
 *   "TF" 0x02 | header length u32 LE | header JSON | per column: length u32 LE | UTF-8 text
 *
 * The header holds the event's fields, its column names and row count, and the rows at which
 * each column is null. A column's text is its values' text forms joined by NUL, which no value
 * contains: PostgreSQL text cannot hold it (the validator refuses it), and the other kinds'
 * text forms are digits, signs, dates and JSON, which escapes control characters.
 *
 * Why: decoding version 1 is a JSON.parse of one string per value, about 1.8 ms per 1,000
 * market-data rows; here a column is one TextDecoder call and one split, about a quarter of
 * that (bench/wal.ts measures both), and every entry is decoded twice, once per tier.
 */
const MAGIC = [0x54, 0x46, 0x02] as const;
const SEPARATOR = '\u0000';

interface Header extends Omit<WireEvent, 'values'> {
  /** Per column with nulls: the rows where it is null. */
  nulls?: Record<string, number[]>;
}

export function isColumnarEvent(bytes: Uint8Array): boolean {
  return bytes[0] === MAGIC[0] && bytes[1] === MAGIC[1] && bytes[2] === MAGIC[2];
}

/** A column's values from their text forms (core/text-form.ts), by kind. */
function fromText(col: ColumnDef | undefined): ((s: string) => unknown) | undefined {
  switch (col?.kind) {
    case 'json':
      return (s) => JSON.parse(s) as unknown;
    case 'bool':
      return (s) => s === 't';
    case 'int32':
    case 'float64':
      return Number;
    case 'int64':
      return BigInt;
    default:
      return undefined; // text, decimal, timestamp, date: the text is the value
  }
}

const encoder = new TextEncoder();
// ignoreBOM: a value may begin with U+FEFF, which a default decoder would silently drop.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

export function encodeColumnarEvent(
  event: Omit<WireEvent, 'count'>,
  dataset: Dataset<unknown, unknown>,
): Uint8Array {
  const count = event.values[0]?.length ?? 0;
  const nulls = new Map<string, number[]>();
  const blocks = event.columns.map((name, c) => {
    const col = dataset.columns.find((d) => d.name === name);
    const text = textForm(col);
    const checkNul = col?.kind === 'text' || col === undefined;
    const values = event.values[c]!;
    const parts = new Array<string>(count);
    for (let i = 0; i < count; i++) {
      const v = values[i];
      if (v === null || v === undefined) {
        let rows = nulls.get(name);
        if (!rows) nulls.set(name, (rows = []));
        rows.push(i);
        parts[i] = '';
        continue;
      }
      const s = text(v);
      if (typeof s !== 'string')
        throw new ValidationError(dataset.name, i, name, 'has no JSON text form (a function or a symbol?)');
      if (checkNul && s.includes(SEPARATOR))
        throw new ValidationError(dataset.name, i, name, 'contains a NUL character, which no tier can store');
      parts[i] = s;
    }
    return encoder.encode(parts.join(SEPARATOR));
  });
  const header: Header = {
    dataset: event.dataset,
    schemaVersion: event.schemaVersion,
    op: event.op,
    columns: event.columns,
    count,
    ...(event.eventTimes ? { eventTimes: event.eventTimes } : {}),
    writtenAt: event.writtenAt,
    ...(event.traceparent ? { traceparent: event.traceparent } : {}),
    ...(event.origin ? { origin: event.origin } : {}),
    ...(nulls.size > 0 ? { nulls: Object.fromEntries(nulls) } : {}),
  };
  const head = encoder.encode(JSON.stringify(header));
  const size = MAGIC.length + 4 + head.length + blocks.reduce((sum, b) => sum + 4 + b.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  let at = MAGIC.length;
  view.setUint32(at, head.length, true);
  out.set(head, at + 4);
  at += 4 + head.length;
  for (const block of blocks) {
    view.setUint32(at, block.length, true);
    out.set(block, at + 4);
    at += 4 + block.length;
  }
  return out;
}

/** Thrown for a payload that is cut short or whose columns do not match its header. */
export class ColumnarFormatError extends Error {}

/** Where a version 2 payload keeps its header and each column's text. */
export interface ColumnarLayout {
  header: Omit<Header, 'nulls'>;
  /** Per column with nulls: the rows where it is null. */
  nulls: ReadonlyMap<string, readonly number[]>;
  /** Per column, in header order: its text's [start, end) in the payload. */
  blocks: readonly (readonly [number, number])[];
}

export function columnarLayout(bytes: Uint8Array): ColumnarLayout {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const block = (at: number): [number, number] => {
    if (at + 4 > bytes.length) throw new ColumnarFormatError(`cut short at byte ${at}`);
    const end = at + 4 + view.getUint32(at, true);
    if (end > bytes.length) throw new ColumnarFormatError(`cut short at byte ${at}`);
    return [at + 4, end];
  };
  const [headStart, headEnd] = block(MAGIC.length);
  const { nulls, ...header } = JSON.parse(decoder.decode(bytes.subarray(headStart, headEnd))) as Header;
  if (
    typeof header.dataset !== 'string' ||
    !Array.isArray(header.columns) ||
    !Number.isSafeInteger(header.count) ||
    header.count < 0
  )
    throw new ColumnarFormatError('the header lacks dataset, columns or count');
  const blocks: [number, number][] = [];
  let at = headEnd;
  for (let c = 0; c < header.columns.length; c++) {
    const range = block(at);
    blocks.push(range);
    at = range[1];
  }
  if (at !== bytes.length) throw new ColumnarFormatError(`${bytes.length - at} bytes after the last column`);
  // A Map, and only the header's own entries: a column may be named like an Object property.
  const nullRows = new Map<string, readonly number[]>();
  for (const [name, rows] of Object.entries(nulls ?? {})) {
    if (!Array.isArray(rows) || rows.some((i) => !Number.isInteger(i) || i < 0 || i >= header.count))
      throw new ColumnarFormatError(`the null rows of column "${name}" are not rows of this event`);
    nullRows.set(name, rows);
  }
  return { header, nulls: nullRows, blocks };
}

/** The event of a version 2 payload, with every value restored to its kind. */
export function decodeColumnarEvent(
  bytes: Uint8Array,
  datasetOf: (name: string) => Dataset<unknown, unknown>,
): WireEvent {
  const { header, nulls, blocks } = columnarLayout(bytes);
  const dataset = datasetOf(header.dataset);
  const count = header.count;
  const values = header.columns.map((name, c) => {
    const [start, end] = blocks[c]!;
    const parts: unknown[] = count === 0 ? [] : decoder.decode(bytes.subarray(start, end)).split(SEPARATOR);
    if (parts.length !== count)
      throw new ColumnarFormatError(`column "${name}" has ${parts.length} values, the header says ${count}`);
    for (const i of nulls.get(name) ?? []) parts[i] = null;
    const convert = fromText(dataset.columns.find((d) => d.name === name));
    if (convert)
      for (let i = 0; i < count; i++) {
        const part = parts[i];
        if (part !== null) parts[i] = convert(part as string);
      }
    return parts;
  });
  return { ...header, values };
}
