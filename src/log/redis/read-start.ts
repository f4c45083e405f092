import type { Redis } from 'ioredis';
import type { ReadFrom } from '../log.ts';
import { formatStreamId, parseStreamId, predecessor, streamIdFromPosition } from './stream-id.ts';

/** No entry can have ID 0-0, so "after 0-0" is the start of any stream. */
export const BEFORE_FIRST = '0-0';

/**
 * Every start becomes an exclusive ID ("entries after this one"), the form both XRANGE with
 * "(" and XREAD take, so a reader keeps a single cursor: the last ID it delivered.
 */
export async function exclusiveStart(client: Redis, streamKey: string, from: ReadFrom): Promise<string> {
  if (typeof from === 'bigint') return formatStreamId(predecessor(parseStreamId(streamIdFromPosition(from))));
  if (from === 'earliest') return BEFORE_FIRST;
  if (from === 'latest') {
    // Captured now, so the reader sees exactly the entries appended after it started.
    const [last] = await client.xrevrangeBuffer(streamKey, '+', '-', 'COUNT', 1);
    return last ? last[0].toString('latin1') : BEFORE_FIRST;
  }
  if (from instanceof Date) {
    const ms = from.getTime();
    if (Number.isNaN(ms)) throw new RangeError('cannot read from an invalid Date');
    return ms <= 0 ? BEFORE_FIRST : formatStreamId(predecessor({ ms: BigInt(ms), seq: 0n }));
  }
  return streamIdFromPosition(from.after);
}
