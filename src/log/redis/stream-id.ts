import type { Position } from '../log.ts';
import { StreamIdRangeError } from './errors.ts';

/**
 * Redis stream IDs are "ms-seq" with two unsigned 64-bit parts; tierflow positions are one
 * bigint. Packing ms × 2^22 + seq keeps the order of IDs as the order of positions, and 2^22
 * (4 194 304) entries in one millisecond of one stream is far beyond what a server appends.
 */
export const SEQ_BITS = 22n;
export const SEQ_LIMIT = 1n << SEQ_BITS;
const MAX_PART = (1n << 64n) - 1n;
const SEQ_MASK = SEQ_LIMIT - 1n;

export interface StreamId {
  ms: bigint;
  seq: bigint;
}

const STREAM_ID = /^(\d{1,20})-(\d{1,20})$/;

export function parseStreamId(text: string): StreamId {
  const match = STREAM_ID.exec(text);
  if (!match) throw new StreamIdRangeError(`"${text}" is not a stream ID`);
  const id = { ms: BigInt(match[1]!), seq: BigInt(match[2]!) };
  if (id.ms > MAX_PART || id.seq > MAX_PART)
    throw new StreamIdRangeError(`"${text}" is beyond the 64-bit parts of a stream ID`);
  return id;
}

export function formatStreamId(id: StreamId): string {
  return `${id.ms}-${id.seq}`;
}

export function positionFromStreamId(text: string): Position {
  const { ms, seq } = parseStreamId(text);
  if (seq >= SEQ_LIMIT) {
    throw new StreamIdRangeError(
      `stream ID ${text} has a sequence of ${seq}, beyond the ${SEQ_LIMIT} a position can hold per millisecond`,
    );
  }
  return (ms << SEQ_BITS) | seq;
}

export function streamIdFromPosition(position: Position): string {
  if (position < 0n) throw new StreamIdRangeError(`position ${position} is negative`);
  const ms = position >> SEQ_BITS;
  if (ms > MAX_PART) throw new StreamIdRangeError(`position ${position} is beyond the last stream ID`);
  return `${ms}-${position & SEQ_MASK}`;
}

export function compareStreamIds(a: StreamId, b: StreamId): number {
  if (a.ms !== b.ms) return a.ms < b.ms ? -1 : 1;
  if (a.seq !== b.seq) return a.seq < b.seq ? -1 : 1;
  return 0;
}

/** The greatest ID below `id`, so an inclusive start becomes the exclusive one XREAD takes; 0-0 stays 0-0 (no entry can have it). */
export function predecessor(id: StreamId): StreamId {
  if (id.seq > 0n) return { ms: id.ms, seq: id.seq - 1n };
  if (id.ms > 0n) return { ms: id.ms - 1n, seq: MAX_PART };
  return id;
}

/** The least ID above `id`: XTRIM MINID with it drops `id` and everything before. */
export function successor(id: StreamId): StreamId {
  if (id.seq < MAX_PART) return { ms: id.ms, seq: id.seq + 1n };
  return { ms: id.ms + 1n, seq: 0n };
}

/** The ms part of an ID: when the server took the entry. */
export function streamIdMillis(text: string): number {
  return Number(parseStreamId(text).ms);
}
