import type { Redis } from 'ioredis';
import { LogUnavailableError } from '../errors.ts';
import { UnexpectedReplyError, isReplyError, isRetriableRedisError } from './errors.ts';

export interface WaitAofOptions {
  /** 1 to wait for the server's own AOF fsync (needs appendonly yes), 0 not to. */
  numLocal: number;
  /** Replicas that must have fsynced their AOF. */
  numReplicas: number;
  /** How long to wait; 0 waits for ever. */
  timeoutMs: number;
}

/**
 * WAITAOF (Redis 7.2+) waits until every write this connection sent before it is fsynced to
 * the AOF locally and on replicas. The entries are already in the stream when it falls short:
 * they are not known to be durable, so the append rejects and its caller retries, which can
 * leave duplicates (at-least-once) but never an acknowledged loss.
 */
export async function waitForAof(client: Redis, options: WaitAofOptions): Promise<void> {
  let reply: unknown;
  try {
    reply = await client.call('WAITAOF', options.numLocal, options.numReplicas, options.timeoutMs);
  } catch (error) {
    if (!isReplyError(error)) throw error; // a connection failure, reported like any other
    throw new LogUnavailableError(
      `WAITAOF was refused (it needs Redis 7.2 or later, and appendonly yes when numLocal > 0): ${error.message}`,
      { retriable: isRetriableRedisError(error), cause: error },
    );
  }
  if (!Array.isArray(reply) || typeof reply[0] !== 'number' || typeof reply[1] !== 'number')
    throw new UnexpectedReplyError('WAITAOF', reply);
  const [local, replicas] = reply as [number, number];
  if (local < options.numLocal || replicas < options.numReplicas) {
    throw new LogUnavailableError(
      `WAITAOF: ${local} of ${options.numLocal} local and ${replicas} of ${options.numReplicas} replica AOF fsyncs within ${options.timeoutMs} ms; the entries are written but not known to be durable`,
      { retriable: true },
    );
  }
}
