import type { Redis } from 'ioredis';
import type { ReadFrom } from '../log.ts';
import { formatStreamId, parseStreamId, predecessor, streamIdFromPosition } from './stream-id.ts';
import { seekTime } from './time-seek.ts';

/** No entry can have ID 0-0, so "after 0-0" is the start of any stream. */
export const BEFORE_FIRST = '0-0';

/**
 * Every start becomes an exclusive ID ("entries after this one"), the form both XRANGE with
 * "(" and XREAD take, so a reader keeps a single cursor: the last ID it delivered.
 *
 * A start at a time lands on the first entry taken at or after it that exists now; entries
 * appended later can be older than the time (the stream was empty, or all its entries were
 * older), so the reader also skips entries before the time until the first one that is not
 * (`notBefore`).
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
    if (ms <= 0) return BEFORE_FIRST;
    const seek = await seekTime(client, streamKey, ms);
    switch (seek.kind) {
      case 'empty':
        return BEFORE_FIRST;
      case 'legacy':
        return formatStreamId(predecessor({ ms: BigInt(ms), seq: 0n }));
      case 'after':
        return seek.id;
      case 'at':
        return formatStreamId(predecessor(parseStreamId(seek.id)));
    }
  }
  return streamIdFromPosition(from.after);
}
