import { RecordDecodeError } from '../errors.ts';
import type { LogEntry, LogEntryInput } from '../log.ts';
import { isDenseStreamId, positionFromStreamId, streamIdMillis } from './stream-id.ts';

/** One stream entry as ioredis' Buffer commands return it: the ID and a flat field/value list. */
export type RawStreamEntry = [id: Buffer, fields: Buffer[]];

/** `t`, the time a dense stream's entry was taken (ms since the epoch), is written by the append script. */
export const FIELD = { key: 'k', headers: 'h', payload: 'p', time: 't' } as const;

/** XADD's field/value arguments. Empty headers are left out: most entries have none, and every field costs memory per entry. */
export function encodeEntryFields(entry: LogEntryInput): (string | Buffer)[] {
  const fields: (string | Buffer)[] = [];
  if (entry.key !== undefined) fields.push(FIELD.key, entry.key);
  if (entry.headers && Object.keys(entry.headers).length > 0)
    fields.push(FIELD.headers, JSON.stringify(entry.headers));
  const { payload } = entry;
  fields.push(FIELD.payload, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
  return fields;
}

/** Payload, key and headers as stored: what counts against a batch's byte bound (the time field does not). */
export function rawEntryBytes([, fields]: RawStreamEntry): number {
  let bytes = 0;
  for (let i = 1; i < fields.length; i += 2) if (!isTimeField(fields[i - 1]!)) bytes += fields[i]!.byteLength;
  return bytes;
}

const TIME_BYTE = FIELD.time.charCodeAt(0);
const isTimeField = (name: Buffer) => name.length === 1 && name[0] === TIME_BYTE;

export function decodeStreamEntry(topic: string, [rawId, fields]: RawStreamEntry): LogEntry {
  const id = rawId.toString('latin1');
  let key: string | undefined;
  let headers: Record<string, string> = {};
  let payload: Uint8Array | undefined;
  let time: number | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!.toString('latin1');
    const value = fields[i + 1]!;
    if (name === FIELD.key) key = value.toString('utf8');
    else if (name === FIELD.headers) headers = decodeHeaders(id, value);
    else if (name === FIELD.payload) payload = ownedCopy(value);
    else if (name === FIELD.time) time = decodeTime(id, value);
  }
  if (payload === undefined)
    throw new RecordDecodeError(`stream entry ${id} of "${topic}" has no payload field`);
  // A dense ID carries no time, so its entry must; a legacy ID's milliseconds are the time.
  const position = positionFromStreamId(id);
  let timestamp: number;
  if (!isDenseStreamId(id)) timestamp = streamIdMillis(id);
  else if (time !== undefined) timestamp = time;
  else throw new RecordDecodeError(`stream entry ${id} of "${topic}" has no time field`);
  return { topic, position, key, headers, payload, timestamp };
}

function decodeTime(id: string, value: Buffer): number {
  const text = value.toString('latin1');
  if (!/^\d{1,15}$/.test(text))
    throw new RecordDecodeError(`stream entry ${id}: time "${text}" is not ms since the epoch`);
  return Number(text);
}

function decodeHeaders(id: string, value: Buffer): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (error) {
    throw new RecordDecodeError(`stream entry ${id}: headers are not JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new RecordDecodeError(`stream entry ${id}: headers are not an object`);
  }
  const entries = Object.entries(parsed);
  for (const [name, v] of entries) {
    if (typeof v !== 'string')
      throw new RecordDecodeError(`stream entry ${id}: header "${name}" is not a string`);
  }
  // fromEntries defines own properties, so a header named __proto__ stays a header.
  return Object.fromEntries(entries) as Record<string, string>;
}

/**
 * The parser hands out views into its socket chunks or its shared pool (several times a large
 * reply's size); a consumer keeping one payload would keep all of that alive, so views are copied.
 */
function ownedCopy(value: Buffer): Uint8Array {
  if (value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) return value;
  return Buffer.from(value);
}
