import type { Position } from '../log.ts';
import { StreamIdRangeError } from './errors.ts';

/**
 * Redis stream IDs are "ms-seq" with two unsigned 64-bit parts; tierflow positions are one
 * bigint. Two numberings share the position space without overlapping, so one pure function
 * maps either way and position order is ID order:
 *
 * - **Dense** (every stream tierflow creates): IDs `0-1`, `0-2`, … appended with explicit IDs,
 *   so the position is the sequence and counts up by one, like the file log and NATS. Positions
 *   stay below 2^43 (DENSE_LIMIT), the bound the lake's and the WAL's row numbering (position ×
 *   2^20 + row in a signed 64-bit value) needs; the entry's time is a field of its own.
 * - **Legacy** (streams written before, with `*` IDs from the server clock): ms × 2^22 + seq, as
 *   before. A real clock's milliseconds are far above 2^21, so these positions are all at or
 *   above 2^43; an ID with 0 < ms < 2^21 (a clock in the first 35 minutes of 1970) or a dense
 *   sequence of 2^43 or more maps to nothing and is refused.
 */
export const SEQ_BITS = 22n;
export const SEQ_LIMIT = 1n << SEQ_BITS;
/** Dense positions are below this; legacy ones at or above it. */
export const DENSE_LIMIT = 1n << 43n;
const LEGACY_MIN_MS = DENSE_LIMIT >> SEQ_BITS;
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

/** True for the IDs of a densely numbered stream (`0-n`). */
export function isDenseStreamId(text: string): boolean {
  return text.startsWith('0-');
}

export function positionFromStreamId(text: string): Position {
  const { ms, seq } = parseStreamId(text);
  if (ms === 0n) {
    if (seq >= DENSE_LIMIT)
      throw new StreamIdRangeError(
        `stream ID ${text} is beyond the ${DENSE_LIMIT} entries a dense stream can number`,
      );
    return seq;
  }
  if (ms < LEGACY_MIN_MS)
    throw new StreamIdRangeError(
      `stream ID ${text} is neither dense (0-n) nor stamped by a clock after 1970-01-01T00:35Z`,
    );
  if (seq >= SEQ_LIMIT) {
    throw new StreamIdRangeError(
      `stream ID ${text} has a sequence of ${seq}, beyond the ${SEQ_LIMIT} a position can hold per millisecond`,
    );
  }
  return (ms << SEQ_BITS) | seq;
}

export function streamIdFromPosition(position: Position): string {
  if (position < 0n) throw new StreamIdRangeError(`position ${position} is negative`);
  if (position < DENSE_LIMIT) return `0-${position}`;
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

/** The ms part of a legacy ID: when the server took the entry (a dense entry carries its time in a field). */
export function streamIdMillis(text: string): number {
  return Number(parseStreamId(text).ms);
}
