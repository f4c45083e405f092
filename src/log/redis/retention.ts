import type { Redis } from 'ioredis';
import type { RetentionPolicy } from '../log.ts';
import { countEntriesAfter } from './count-entries.ts';
import { lowestCommitted } from './group-positions.ts';
import type { RedisLogKeys } from './keys.ts';
import { BEFORE_FIRST } from './read-start.ts';
import type { StreamId } from './stream-id.ts';
import {
  compareStreamIds,
  formatStreamId,
  parseStreamId,
  streamIdFromPosition,
  successor,
} from './stream-id.ts';
import { streamBytes } from './stream-bounds.ts';
import { seekTime } from './time-seek.ts';

/**
 * Every policy becomes one XTRIM MINID: an ID bound, not a count, so entries appended while
 * retention runs (they get higher IDs) can never be trimmed by it. The bound is capped just
 * above the lowest position any group committed, unless forced, and at `keepFrom`.
 */
export async function trimStream(
  client: Redis,
  keys: RedisLogKeys,
  topic: string,
  policy: RetentionPolicy,
): Promise<number> {
  const streamKey = keys.stream(topic);
  const bounds: StreamId[] = [];
  if (policy.maxAgeMs !== undefined) {
    const bound = await minIdForAge(client, streamKey, policy.maxAgeMs);
    if (bound) bounds.push(bound);
  }
  if (policy.maxBytes !== undefined) {
    const bound = await minIdForBytes(client, streamKey, policy.maxBytes);
    if (bound) bounds.push(bound);
  }
  let minId = bounds.reduce<StreamId | undefined>(
    (a, b) => (a === undefined || compareStreamIds(b, a) > 0 ? b : a),
    undefined,
  );
  if (minId === undefined) return 0;
  const caps: StreamId[] = [];
  if (!policy.force) {
    const floor = await lowestCommitted(client, keys, topic);
    if (floor !== undefined) caps.push(successor(parseStreamId(streamIdFromPosition(floor))));
  }
  if (policy.keepFrom !== undefined) caps.push(parseStreamId(streamIdFromPosition(policy.keepFrom)));
  for (const cap of caps) if (compareStreamIds(minId, cap) > 0) minId = cap;
  return client.xtrim(streamKey, 'MINID', formatStreamId(minId));
}

/**
 * Ages count on the server's clock, the one that stamped the entries: a legacy stream's IDs
 * carry it, a dense stream's entries hold it in a field, found by a seek. Entries appended after
 * the seek are stamped later and have higher IDs, so the bound never reaches them.
 */
async function minIdForAge(
  client: Redis,
  streamKey: string,
  maxAgeMs: number,
): Promise<StreamId | undefined> {
  if (!(maxAgeMs >= 0)) throw new RangeError(`maxAgeMs must be 0 or more, not ${maxAgeMs}`);
  const [seconds, micros] = (await client.time()).map(Number);
  const now = (seconds ?? 0) * 1000 + Math.floor((micros ?? 0) / 1000);
  const cutoff = Math.max(0, now - Math.floor(maxAgeMs));
  const seek = await seekTime(client, streamKey, cutoff);
  switch (seek.kind) {
    case 'empty':
      return undefined;
    case 'legacy':
      return { ms: BigInt(cutoff), seq: 0n };
    case 'after':
      return successor(parseStreamId(seek.id)); // every entry is older
    case 'at':
      return parseStreamId(seek.id);
  }
}

/**
 * Redis cannot say how many bytes each entry takes, so the count to drop comes from the
 * stream's average (MEMORY USAGE / XLEN), and the ID of the last one to drop from a walk on
 * the server.
 */
async function minIdForBytes(
  client: Redis,
  streamKey: string,
  maxBytes: number,
): Promise<StreamId | undefined> {
  if (!(maxBytes >= 0)) throw new RangeError(`maxBytes must be 0 or more, not ${maxBytes}`);
  const bytes = await streamBytes(client, streamKey);
  if (bytes <= maxBytes) return undefined;
  const length = await client.xlen(streamKey);
  if (length === 0) return undefined;
  const keep = Math.floor(maxBytes / (bytes / length));
  const drop = length - keep;
  if (drop <= 0) return undefined;
  const { count, lastId } = await countEntriesAfter(client, streamKey, BEFORE_FIRST, drop);
  return count === 0 ? undefined : successor(parseStreamId(lastId));
}
