import type { Redis } from 'ioredis';
import type { Metrics } from '../../observe/metrics.ts';
import { METRIC, noopMetrics } from '../../observe/metrics.ts';
import { InvalidTopicError, LogClosedError, UnknownTopicError } from '../errors.ts';
import type {
  Log,
  LogEntry,
  LogEntryInput,
  Position,
  ReadOptions,
  RetentionPolicy,
  TopicStats,
} from '../log.ts';
import { isValidTopic } from '../log.ts';
import { appendToStream } from './append.ts';
import { closeConnection, openBlockingConnection, openConnection } from './connection.ts';
import { countEntriesAfter } from './count-entries.ts';
import { appendErrorReason, appendFailure } from './errors.ts';
import { commitPosition, committedPosition } from './group-positions.ts';
import type { RedisLogKeys } from './keys.ts';
import { redisLogKeys } from './keys.ts';
import { exclusiveStart } from './read-start.ts';
import { trimStream } from './retention.ts';
import { positionFromStreamId, streamIdFromPosition } from './stream-id.ts';
import { streamBounds, streamBytes } from './stream-bounds.ts';
import { readStream } from './stream-reader.ts';
import type { TopicNumbering } from './topic-numbering.ts';
import { topicNumbering } from './topic-numbering.ts';
import type { WaitAofOptions } from './wait-aof.ts';

export interface RedisLogOptions {
  /** Prefix of every key the log uses. Default 'tierflow'. */
  prefix?: string;
  metrics?: Metrics;
  /** Also wait for AOF fsyncs before acknowledging an append (Redis 7.2+); see docs/log-redis.md. */
  waitAof?: WaitAofOptions;
}

const DEFAULT_MAX_BATCH_ENTRIES = 1000;
const DEFAULT_MAX_BATCH_BYTES = 4 * 1024 * 1024;

/**
 * A Log on Redis Streams. Given a URL, the log opens and closes its connection; given a client,
 * it uses it and leaves it open on close. Either way each following reader blocks on a
 * duplicate connection of its own, so a waiting XREAD never delays appends or other readers.
 */
export function createRedisLog(client: Redis | string, options: RedisLogOptions = {}): Log {
  return typeof client === 'string'
    ? new RedisLog(openConnection(client), true, options)
    : new RedisLog(client, false, options);
}

/**
 * How the Redis log `log` numbers `topic` (see TopicNumbering) and the keys that hold the topic
 * (deleting them starts it again, densely), or undefined if `log` is not a Redis log made by
 * createRedisLog. Stages 1 and 2 refuse a legacy stream: its positions exceed the 2^43 their row
 * numbering allows.
 */
export async function redisTopicNumbering(
  log: Log,
  topic: string,
): Promise<{ numbering: TopicNumbering; keys: string[] } | undefined> {
  return log instanceof RedisLog ? log.numbering(topic) : undefined;
}

class RedisLog implements Log {
  readonly backend = 'redis';
  private readonly keys: RedisLogKeys;
  private readonly prefix: string;
  private readonly metrics: Metrics;
  private readonly waitAof: WaitAofOptions | undefined;
  private readonly inFlight = new Set<Promise<Position[]>>();
  private readonly readerStops = new Set<() => void>();
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly client: Redis,
    private readonly ownsClient: boolean,
    options: RedisLogOptions,
  ) {
    this.prefix = options.prefix ?? 'tierflow';
    this.keys = redisLogKeys(this.prefix);
    this.metrics = options.metrics ?? noopMetrics;
    this.waitAof = options.waitAof;
  }

  async append(topic: string, entries: readonly LogEntryInput[]): Promise<Position[]> {
    if (this.closed) throw new LogClosedError();
    if (!isValidTopic(topic)) throw new InvalidTopicError(topic);
    if (entries.length === 0) return [];
    const started = performance.now();
    const work = appendToStream(this.client, this.keys, topic, entries, this.waitAof);
    this.inFlight.add(work);
    try {
      const positions = await work;
      const labels = { backend: this.backend, topic };
      this.metrics.observe(METRIC.walAppendLatency, (performance.now() - started) / 1000, labels);
      this.metrics.count(METRIC.walEntries, labels, entries.length);
      return positions;
    } catch (error) {
      this.metrics.count(METRIC.walAppendErrors, { backend: this.backend, reason: appendErrorReason(error) });
      throw appendFailure(topic, error);
    } finally {
      this.inFlight.delete(work);
    }
  }

  read(topic: string, options: ReadOptions): AsyncIterable<LogEntry[]> {
    return this.readBatches(topic, options);
  }

  private async *readBatches(topic: string, options: ReadOptions): AsyncGenerator<LogEntry[]> {
    if (this.closed) throw new LogClosedError();
    const stopper = new AbortController();
    const stop = () => stopper.abort();
    this.readerStops.add(stop);
    options.signal?.addEventListener('abort', stop, { once: true });
    if (options.signal?.aborted) stop();
    try {
      const streamKey = this.keys.stream(topic);
      let afterId: string;
      try {
        // Both commands go out before the first await, so 'latest' is fixed ahead of any append
        // issued after the iteration started (one connection keeps command order).
        const [known, start] = await Promise.all([
          this.isTopic(topic),
          exclusiveStart(this.client, streamKey, options.from),
        ]);
        if (!known) throw new UnknownTopicError(topic);
        afterId = start;
      } catch (error) {
        if (stopper.signal.aborted && !(error instanceof UnknownTopicError)) return;
        throw error;
      }
      yield* readStream({
        client: this.client,
        openBlocking: () => openBlockingConnection(this.client, this.prefix),
        topic,
        streamKey,
        afterId,
        notBefore: options.from instanceof Date ? options.from.getTime() : undefined,
        follow: options.follow ?? true,
        maxBatchEntries: Math.max(1, Math.floor(options.maxBatchEntries ?? DEFAULT_MAX_BATCH_ENTRIES)),
        maxBatchBytes: Math.max(1, options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES),
        stop: stopper.signal,
      });
    } finally {
      this.readerStops.delete(stop);
      options.signal?.removeEventListener('abort', stop);
    }
  }

  async commit(group: string, topic: string, position: Position): Promise<void> {
    this.ensureOpen();
    await this.requireTopic(topic);
    await commitPosition(this.client, this.keys, group, topic, position);
  }

  async committed(group: string, topic: string): Promise<Position | undefined> {
    this.ensureOpen();
    return committedPosition(this.client, this.keys, group, topic);
  }

  async lag(group: string, topic: string): Promise<number> {
    this.ensureOpen();
    await this.requireTopic(topic);
    const streamKey = this.keys.stream(topic);
    const position = await committedPosition(this.client, this.keys, group, topic);
    const lag =
      position === undefined
        ? await this.client.xlen(streamKey)
        : (await countEntriesAfter(this.client, streamKey, streamIdFromPosition(position))).count;
    this.metrics.gauge(METRIC.consumerLag, lag, { backend: this.backend, group, topic });
    return lag;
  }

  async topics(): Promise<string[]> {
    this.ensureOpen();
    return (await this.client.smembers(this.keys.topics)).sort();
  }

  async stats(topic: string): Promise<TopicStats> {
    this.ensureOpen();
    await this.requireTopic(topic);
    const streamKey = this.keys.stream(topic);
    const [bounds, bytes] = await Promise.all([
      streamBounds(this.client, streamKey),
      streamBytes(this.client, streamKey),
    ]);
    this.metrics.gauge(METRIC.walSize, bytes, { backend: this.backend, topic });
    return {
      topic,
      entries: bounds.length,
      bytes,
      first: bounds.firstId === undefined ? undefined : positionFromStreamId(bounds.firstId),
      last: bounds.lastId === undefined ? undefined : positionFromStreamId(bounds.lastId),
    };
  }

  async numbering(topic: string): Promise<{ numbering: TopicNumbering; keys: string[] }> {
    this.ensureOpen();
    return {
      numbering: await topicNumbering(this.client, this.keys, topic),
      keys: [this.keys.stream(topic), this.keys.groups(topic), this.keys.meta(topic)],
    };
  }

  async applyRetention(topic: string, policy: RetentionPolicy): Promise<number> {
    this.ensureOpen();
    await this.requireTopic(topic);
    return trimStream(this.client, this.keys, topic, policy);
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    for (const stop of this.readerStops) stop();
    await Promise.allSettled(this.inFlight);
    if (this.ownsClient) await closeConnection(this.client);
  }

  private ensureOpen(): void {
    if (this.closed) throw new LogClosedError();
  }

  private async requireTopic(topic: string): Promise<void> {
    if (!(await this.isTopic(topic))) throw new UnknownTopicError(topic);
  }

  private async isTopic(topic: string): Promise<boolean> {
    return isValidTopic(topic) && (await this.client.sismember(this.keys.topics, topic)) === 1;
  }
}
