import type { Redis } from 'ioredis';
import { UnexpectedReplyError } from './errors.ts';

/** Length and the first and last IDs, found on the server so the two entries' payloads stay there. */
const BOUNDS_SCRIPT = `
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
return {redis.call('XLEN', KEYS[1]), first and first[1] or '', last and last[1] or ''}
`;

export interface StreamBounds {
  length: number;
  firstId: string | undefined;
  lastId: string | undefined;
}

export async function streamBounds(client: Redis, streamKey: string): Promise<StreamBounds> {
  const reply = await client.eval(BOUNDS_SCRIPT, 1, streamKey);
  if (!Array.isArray(reply) || reply.length !== 3)
    throw new UnexpectedReplyError('the stream-bounds script', reply);
  const [length, firstId, lastId] = reply as unknown[];
  if (typeof length !== 'number' || typeof firstId !== 'string' || typeof lastId !== 'string') {
    throw new UnexpectedReplyError('the stream-bounds script', reply);
  }
  return { length, firstId: firstId || undefined, lastId: lastId || undefined };
}

/** MEMORY USAGE: the server's estimate of the stream's footprint (it samples large streams). */
export async function streamBytes(client: Redis, streamKey: string): Promise<number> {
  return (await client.memory('USAGE', streamKey)) ?? 0;
}
