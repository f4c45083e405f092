import type { Redis } from 'ioredis';
import { UnexpectedReplyError } from './errors.ts';
import type { RedisLogKeys } from './keys.ts';
import { DENSE_LIMIT } from './stream-id.ts';

/**
 * How a topic's stream numbers its entries: 'dense' (0-1, 0-2, …: positions count up from 1),
 * 'legacy' (IDs from the server clock, written before dense numbering: positions ms × 2^22 + seq,
 * all at or above 2^43), or 'none' (no stream yet: the first append makes it dense).
 */
export type TopicNumbering = 'dense' | 'legacy' | 'none';

/**
 * The stream's record says dense; without one, the stream's last generated ID decides (XINFO
 * STREAM knows it even when retention has emptied the stream), read on the server so the two
 * entries XINFO also returns never cross the network.
 */
const NUMBERING_SCRIPT = `
if redis.call('HEXISTS', KEYS[2], 'n') == 1 then return 'dense' end
if redis.call('EXISTS', KEYS[1]) == 0 then return 'none' end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then
    if string.sub(info[i + 1], 1, 2) == '0-' then return 'dense' end
    return 'legacy'
  end
end
return redis.error_reply('ERR XINFO STREAM ' .. KEYS[1] .. ' has no last-generated-id')
`;

/**
 * A stream counts as legacy too when a group's committed position is one of the old numbering:
 * a legacy stream deleted and started again dense, with its groups' commits left behind, would
 * have its consumers skip every new entry.
 */
export async function topicNumbering(
  client: Redis,
  keys: RedisLogKeys,
  topic: string,
): Promise<TopicNumbering> {
  const reply = await client.eval(NUMBERING_SCRIPT, 2, keys.stream(topic), keys.meta(topic));
  if (reply !== 'dense' && reply !== 'legacy' && reply !== 'none')
    throw new UnexpectedReplyError('the topic-numbering script', reply);
  if (reply === 'legacy') return reply;
  const commits = await client.hvals(keys.groups(topic));
  return commits.some((value) => /^\d+$/.test(value) && BigInt(value) >= DENSE_LIMIT) ? 'legacy' : reply;
}
