import { TierflowError } from '../../core/index.ts';
import { LogUnavailableError } from '../errors.ts';

/** A stream ID or position that neither numbering (dense 0-n, legacy ms × 2^22 + seq) can represent. */
export class StreamIdRangeError extends TierflowError {
  constructor(message: string) {
    super('LOG_REDIS_STREAM_ID', message);
  }
}

/**
 * Server replies that describe a passing state (a failover, a dataset still loading, memory
 * that retention can free): trying again later can succeed. Any other reply is a bug or a
 * configuration problem that a retry would only repeat.
 */
const TRANSIENT_REPLIES = [
  'LOADING',
  'BUSY',
  'TRYAGAIN',
  'MASTERDOWN',
  'READONLY',
  'OOM',
  'CLUSTERDOWN',
  'NOREPLICAS',
];

/** ioredis rejects with redis-errors' ReplyError for a server's error reply; its type is exported as `any`. */
export function isReplyError(error: unknown): error is Error {
  return error instanceof Error && error.name === 'ReplyError';
}

export function isRetriableRedisError(error: unknown): boolean {
  if (!isReplyError(error)) return true; // a lost, refused or timed-out connection
  return TRANSIENT_REPLIES.some((prefix) => error.message.startsWith(prefix));
}

/** A short label for the append-errors metric. */
export function appendErrorReason(error: unknown): string {
  if (error instanceof LogUnavailableError) return 'durability';
  if (error instanceof TierflowError) return 'reply';
  return isReplyError(error) ? 'server' : 'connection';
}

/** What an append rejects with: tierflow's own errors as they are, anything from the client as LogUnavailableError. */
export function appendFailure(topic: string, error: unknown): Error {
  if (error instanceof TierflowError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new LogUnavailableError(`redis append to "${topic}" failed: ${message}`, {
    retriable: isRetriableRedisError(error),
    cause: error,
  });
}

/** A reply whose shape tierflow does not expect: a server or client version it was not written for. */
export class UnexpectedReplyError extends TierflowError {
  constructor(command: string, reply: unknown) {
    super('LOG_REDIS_REPLY', `unexpected reply to ${command}: ${JSON.stringify(reply)}`);
  }
}
