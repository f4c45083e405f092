import type { JsMsg } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { RecordDecodeError } from '../errors.ts';
import type { LogEntry, LogEntryInput } from '../log.ts';

/**
 * How an entry's key and headers travel as NATS headers. NATS header names are case-folded and
 * values are trimmed and may not hold CR or LF, so user headers cannot be NATS headers as they
 * are: the key is percent-encoded (readable for ordinary keys, exact for any string) and the user
 * headers go as one JSON object, non-ASCII escaped, in a header of their own. An absent
 * Tierflow-Key header means the entry had no key; an empty value means the key ''.
 */
export const KEY_HEADER = 'Tierflow-Key';
export const HEADERS_HEADER = 'Tierflow-Headers';
const MSG_ID_HEADER = 'Nats-Msg-Id';

/** The bytes a header block takes on the wire and in the store ("NATS/1.0", one line per value, a blank line). */
export function headerBytes(h: MsgHdrs, skip?: string): number {
  let bytes = 'NATS/1.0\r\n\r\n'.length;
  let lines = 0;
  for (const [name, values] of h) {
    if (name === skip) continue;
    for (const value of values) {
      bytes += Buffer.byteLength(`${name}: ${value}\r\n`);
      lines += 1;
    }
  }
  return lines === 0 ? 0 : bytes;
}

/** The NATS headers of an entry: its Nats-Msg-Id (for dedup), its key and its headers. */
export function encodeHeaders(entry: LogEntryInput, msgId: string): MsgHdrs {
  const userHeaders = entry.headers === undefined ? [] : Object.keys(entry.headers);
  const h = natsHeaders();
  h.set(MSG_ID_HEADER, msgId);
  if (entry.key !== undefined) h.set(KEY_HEADER, encodeURIComponent(entry.key));
  if (userHeaders.length > 0) {
    const json = JSON.stringify(entry.headers).replace(
      /[\u007f-\uffff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
    h.set(HEADERS_HEADER, json);
  }
  return h;
}

function decodeUserHeaders(json: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new RecordDecodeError(`the ${HEADERS_HEADER} header is not JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new RecordDecodeError(`the ${HEADERS_HEADER} header is not a JSON object`);
  }
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(parsed)) {
    if (typeof value !== 'string') throw new RecordDecodeError(`header "${name}" is not a string`);
    out[name] = value;
  }
  return out;
}

function decodeKey(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch (error) {
    throw new RecordDecodeError(
      `the ${KEY_HEADER} header is not percent-encoded: ${(error as Error).message}`,
    );
  }
}

export function decodeEntry(topic: string, msg: JsMsg): LogEntry {
  const h = msg.headers;
  const key = h?.has(KEY_HEADER) ? decodeKey(h.get(KEY_HEADER)) : undefined;
  const userHeaders = h?.has(HEADERS_HEADER) ? decodeUserHeaders(h.get(HEADERS_HEADER)) : {};
  return {
    topic,
    position: BigInt(msg.seq),
    key,
    headers: userHeaders,
    payload: msg.data,
    timestamp: Number(msg.timestampNanos / 1_000_000n),
  };
}
