import type { Redis } from 'ioredis';
import type { LogEntryInput, Position } from '../log.ts';
import { encodeEntryFields } from './entry-codec.ts';
import { UnexpectedReplyError } from './errors.ts';
import type { RedisLogKeys } from './keys.ts';
import { positionFromStreamId } from './stream-id.ts';
import type { WaitAofOptions } from './wait-aof.ts';
import { waitForAof } from './wait-aof.ts';

/**
 * One MULTI/EXEC per append: its entries get consecutive IDs with no other appender's entries
 * between them, and the topic joins the topics set in the same transaction. The commands are
 * queued on the connection before this function first awaits, so appends keep their call order.
 */
export async function appendToStream(
  client: Redis,
  keys: RedisLogKeys,
  topic: string,
  entries: readonly LogEntryInput[],
  waitAof: WaitAofOptions | undefined,
): Promise<Position[]> {
  const streamKey = keys.stream(topic);
  const transaction = client.multi();
  for (const entry of entries) transaction.xadd(streamKey, '*', ...encodeEntryFields(entry));
  transaction.sadd(keys.topics, topic);
  const results = await transaction.exec();
  if (!results || results.length !== entries.length + 1) throw new UnexpectedReplyError('EXEC', results);
  const ids: string[] = [];
  for (const [error, id] of results) {
    if (error) throw error;
    if (ids.length < entries.length) {
      if (typeof id !== 'string') throw new UnexpectedReplyError('XADD', id);
      ids.push(id);
    }
  }
  if (waitAof) await waitForAof(client, waitAof);
  return ids.map(positionFromStreamId);
}
