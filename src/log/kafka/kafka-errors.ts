import type { GenericError } from '@platformatic/kafka';
import { TimeoutError } from '@platformatic/kafka';
import { TierflowError } from '../../core/index.ts';
import { LogUnavailableError } from '../errors.ts';

/** Every error in a chain: causes, and the members of an AggregateError (the client's MultipleErrors). */
function* causes(error: unknown, depth = 0): Generator<unknown> {
  if (depth > 8 || error === undefined || error === null) return;
  yield error;
  if (error instanceof AggregateError) for (const e of error.errors) yield* causes(e, depth + 1);
  if (error instanceof Error && error.cause !== undefined) yield* causes(error.cause, depth + 1);
}

const code = (e: unknown) => (e as Partial<GenericError>).code;
const apiId = (e: unknown) => (e as { apiId?: string }).apiId;

/** The broker's error name (UNKNOWN_TOPIC_OR_PARTITION, …) somewhere in the chain, if any. */
export function kafkaErrorName(error: unknown, ...names: string[]): string | undefined {
  for (const e of causes(error)) {
    const id = apiId(e);
    if (id !== undefined && names.includes(id)) return id;
  }
  return undefined;
}

/** The client or broker says the topic does not exist. */
export function isUnknownTopic(error: unknown): boolean {
  for (const e of causes(error)) {
    if (apiId(e) === 'UNKNOWN_TOPIC_OR_PARTITION' || apiId(e) === 'UNKNOWN_TOPIC_ID') return true;
    if (code(e) === 'PLT_KFK_USER' && /^Unknown topic /.test((e as Error).message)) return true;
  }
  return false;
}

/** A partition without a leader for now (an election): the client finds no broker for node -1. */
export function isLeaderUnknown(error: unknown): boolean {
  for (const e of causes(error))
    if (code(e) === 'PLT_KFK_USER' && /^Cannot find broker with node id -?\d+/.test((e as Error).message))
      return true;
  return kafkaErrorName(error, 'LEADER_NOT_AVAILABLE', 'NOT_LEADER_OR_FOLLOWER') !== undefined;
}

/**
 * Trying again can help: the network, a timeout, or a broker error Kafka marks retriable (a leader
 * election, not enough replicas in sync, a coordinator loading).
 */
export function isTransient(error: unknown): boolean {
  for (const e of causes(error)) {
    const c = code(e);
    if (c === 'PLT_KFK_NETWORK' || c === 'PLT_KFK_TIMEOUT') return true;
    if ((e as { canRetry?: boolean }).canRetry === true) return true;
    if ((e as NodeJS.ErrnoException).code === 'ECONNREFUSED') return true;
  }
  return isLeaderUnknown(error);
}

/** The label of wal_append_errors_total. */
export function failureReason(error: unknown): string {
  for (const e of causes(error)) {
    const c = code(e);
    // The client's TimeoutError carries the network code: the class tells them apart.
    if (e instanceof TimeoutError || c === 'PLT_KFK_TIMEOUT') return 'timeout';
    if (c === 'PLT_KFK_NETWORK') return 'connection';
    const id = apiId(e);
    if (id !== undefined) return id.toLowerCase();
  }
  return 'error';
}

export function unavailable(message: string, cause: unknown): LogUnavailableError {
  if (cause instanceof LogUnavailableError) return cause;
  const detail = cause instanceof Error ? describe(cause) : String(cause);
  return new LogUnavailableError(`${message}: ${detail}`, { retriable: isTransient(cause), cause });
}

/** The message of an error and of what it aggregates: the client's own says only "… failed". */
export function describe(error: Error): string {
  const inner = [...causes(error)]
    .slice(1)
    .filter((e): e is Error => e instanceof Error && !(e instanceof AggregateError))
    .map((e) => e.message);
  return inner.length > 0 ? `${error.message} (${[...new Set(inner)].join('; ')})` : error.message;
}

/**
 * A topic is not the one its positions were taken from: it was deleted (and perhaps created again,
 * numbering from 0). Kafka drops the commits of a deleted topic with it.
 */
export class TopicRecreatedError extends TierflowError {
  readonly topic: string;
  constructor(topic: string, detail: string) {
    super('LOG_STREAM_RECREATED', `topic "${topic}" is not the one its positions were taken from: ${detail}`);
    this.topic = topic;
  }
}

/**
 * A topic's partition count changed under a process appending to it (kafka-topics --alter): keys
 * would be routed to other partitions, and a key's entries would lose their order. Appends stop
 * until an operator restarts the process knowingly (docs/stage-1.md).
 */
export class PartitionsChangedError extends TierflowError {
  readonly topic: string;
  constructor(topic: string, before: number, now: number) {
    super(
      'LOG_PARTITIONS_CHANGED',
      `topic "${topic}" had ${before} partitions when this process first appended to it and has ${now} now: entries keyed alike would land in other partitions`,
    );
    this.topic = topic;
  }
}
