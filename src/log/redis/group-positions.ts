import type { Redis } from 'ioredis';
import { RecordDecodeError } from '../errors.ts';
import type { Position } from '../log.ts';
import type { RedisLogKeys } from './keys.ts';
import { streamIdFromPosition } from './stream-id.ts';

/**
 * Committed positions live in one hash per topic (group → position), kept by tierflow rather
 * than by Redis consumer groups: a consumer commits only after its lake commit, and must be able
 * to move back to any position for a replay, which XACK's pending lists do not model.
 */
export async function commitPosition(
  client: Redis,
  keys: RedisLogKeys,
  group: string,
  topic: string,
  position: Position,
): Promise<void> {
  streamIdFromPosition(position); // refuses a position no stream ID can have
  await client.hset(keys.groups(topic), group, position.toString());
}

export async function committedPosition(
  client: Redis,
  keys: RedisLogKeys,
  group: string,
  topic: string,
): Promise<Position | undefined> {
  const value = await client.hget(keys.groups(topic), group);
  return value === null ? undefined : decodePosition(value, group, topic);
}

export async function lowestCommitted(
  client: Redis,
  keys: RedisLogKeys,
  topic: string,
): Promise<Position | undefined> {
  const all = await client.hgetall(keys.groups(topic));
  let lowest: Position | undefined;
  for (const [group, value] of Object.entries(all)) {
    const position = decodePosition(value, group, topic);
    if (lowest === undefined || position < lowest) lowest = position;
  }
  return lowest;
}

function decodePosition(value: string, group: string, topic: string): Position {
  if (!/^\d{1,40}$/.test(value))
    throw new RecordDecodeError(
      `group "${group}" on "${topic}" has committed "${value}", which is not a position`,
    );
  return BigInt(value);
}
