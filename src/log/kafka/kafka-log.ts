import { METRIC } from '../../observe/metrics.ts';
import { InvalidTopicError, LogClosedError, LogUnavailableError, UnknownTopicError } from '../errors.ts';
import { InFlight } from '../in-flight.ts';
import type {
  GroupMembership,
  JoinOptions,
  Log,
  LogEntry,
  LogEntryInput,
  Position,
  ReadOptions,
  RetentionPolicy,
  TopicExtent,
  TopicStats,
} from '../log.ts';
import { isValidTopic } from '../log.ts';
import { GroupAppender, OffsetsWentBackError } from './append.ts';
import type { KafkaClients } from './clients.ts';
import { createClients } from './clients.ts';
import { PartitionsChangedError, TopicRecreatedError, failureReason, unavailable } from './kafka-errors.ts';
import { GroupCommits, partitionBounds } from './offsets.ts';
import type { KafkaLogOptions, ResolvedKafkaLogOptions } from './options.ts';
import { parseKafkaSpec, resolveKafkaOptions } from './options.ts';
import { PartitionSizes } from './partition-sizes.ts';
import { offsetOf, partitionOfPosition, positionOf } from '../partition-position.ts';
import type { ReaderContext } from './reader.ts';
import { openTopic, readTopic } from './reader.ts';
import { joinKafkaGroup } from './membership.ts';
import { applyKafkaRetention } from './retention.ts';
import { KafkaTopics } from './topics.ts';

const BACKEND = 'kafka';

/**
 * The Log on Apache Kafka: a Kafka topic per tierflow topic, positions are offsets (with the
 * partition above bit 48, position.ts), an append is durable once the idempotent producer's
 * acks=all produce is answered (docs/log-kafka.md says what that means on one broker and on a
 * cluster), and consumer groups commit in Kafka's group coordinator.
 */
class KafkaLog implements Log {
  readonly backend = BACKEND;
  private readonly kafkaTopics: KafkaTopics;
  private readonly commits: GroupCommits;
  private readonly sizes: PartitionSizes;
  private readonly appender: GroupAppender;
  private readonly inFlight = new InFlight();
  /** Per topic, lookups of its end by reads from 'latest' that this process's appends to it wait for. */
  private readonly fences = new Map<string, Set<Promise<void>>>();
  private readonly readerContext: ReaderContext;
  private signalClosed!: () => void;
  private readonly closedSignal = new Promise<void>((resolve) => (this.signalClosed = resolve));
  private closing: Promise<void> | undefined;
  /** Per topic, the id and partition count of the Kafka topic this process appended to first. */
  private readonly appendedTo = new Map<string, { id: string; partitions: number }>();

  constructor(
    private readonly clients: KafkaClients,
    private readonly options: ResolvedKafkaLogOptions,
  ) {
    this.kafkaTopics = new KafkaTopics(clients.admin, options);
    this.commits = new GroupCommits(clients.admin, (group) => `${options.prefix}${group}`);
    this.sizes = new PartitionSizes(clients.fetcher);
    this.appender = new GroupAppender(
      clients.producer,
      { timeoutMs: options.appendTimeoutMs, maxQueuedBytes: options.maxQueuedBytes },
      (message) => new LogUnavailableError(message, { retriable: true }),
    );
    this.readerContext = {
      admin: clients.admin,
      fetcher: clients.fetcher,
      topics: this.kafkaTopics,
      closed: this.closedSignal,
      isClosed: () => this.closing !== undefined,
    };
  }

  append(topic: string, entries: readonly LogEntryInput[]): Promise<Position[]> {
    if (this.closing) return Promise.reject(new LogClosedError());
    if (!isValidTopic(topic)) return Promise.reject(new InvalidTopicError(topic));
    if (entries.length === 0) return Promise.resolve([]);
    return this.inFlight.track(this.appendNow(topic, entries));
  }

  private async appendNow(topic: string, entries: readonly LogEntryInput[]): Promise<Position[]> {
    const started = performance.now();
    const labels = { backend: BACKEND, topic };
    try {
      const fences = this.fences.get(topic);
      if (fences) await Promise.all([...fences]);
      const info = await this.kafkaTopics.ensure(topic);
      const first = this.appendedTo.get(topic);
      if (first === undefined)
        this.appendedTo.set(topic, { id: info.id, partitions: info.partitions.length });
      else if (first.id !== info.id)
        throw new TopicRecreatedError(
          topic,
          `this process appended to topic id ${first.id}; it is ${info.id} now`,
        );
      else if (first.partitions !== info.partitions.length)
        // Keys would move partition, and the order of a key's entries with them.
        throw new PartitionsChangedError(topic, first.partitions, info.partitions.length);
      const positions = await this.appender.append(
        this.kafkaTopics.name(topic),
        info.partitions.length,
        entries,
      );
      this.options.metrics.observe(METRIC.walAppendLatency, (performance.now() - started) / 1000, labels);
      this.options.metrics.count(METRIC.walEntries, labels, entries.length);
      return positions;
    } catch (caught) {
      let error = caught;
      // Leaders move and topics vanish: the next append looks the topic up again.
      this.kafkaTopics.forget(topic);
      if (error instanceof OffsetsWentBackError) error = new TopicRecreatedError(topic, error.message);
      this.options.metrics.count(METRIC.walAppendErrors, { backend: BACKEND, reason: failureReason(error) });
      if (error instanceof PartitionsChangedError) throw error;
      if (error instanceof TopicRecreatedError) {
        this.options.metrics.count(METRIC.logStreamCheckFailures, {
          backend: BACKEND,
          topic,
          reason: 'recreated',
        });
        throw error;
      }
      throw unavailable(`appending ${entries.length} entries to "${topic}" failed`, error);
    }
  }

  /**
   * The topic's end is looked up now, not at the first batch, and this process's appends wait for
   * it: a read from 'latest' then sees every entry appended after read() was called, as the other
   * backends' reads do (an append racing the lookup on another connection could land first).
   */
  read(topic: string, options: ReadOptions): AsyncIterable<LogEntry[]> {
    if (!isValidTopic(topic)) return failing(new InvalidTopicError(topic));
    if (this.closing) return failing(new LogClosedError());
    const opened = openTopic(this.readerContext, topic);
    if (options.from === 'latest') {
      const fence = opened.then(
        () => undefined,
        () => undefined, // the read reports its own failure
      );
      const fences = this.fences.get(topic) ?? new Set<Promise<void>>();
      this.fences.set(topic, fences);
      fences.add(fence);
      void fence.then(() => {
        fences.delete(fence);
        if (fences.size === 0 && this.fences.get(topic) === fences) this.fences.delete(topic);
      });
    }
    // The read reports a failed lookup when it is iterated; until then it is not unhandled.
    opened.catch(() => undefined);
    return readTopic(this.readerContext, topic, options, opened);
  }

  async commit(group: string, topic: string, position: Position): Promise<void> {
    this.checkGroup(group, topic);
    const info = await this.kafkaTopics.info(topic);
    const partition = partitionOfPosition(position);
    if (partition >= info.partitions.length)
      throw new RangeError(
        `position ${position} names partition ${partition}; "${topic}" has ${info.partitions.length}`,
      );
    await this.commits.commit(group, this.kafkaTopics.name(topic), partition, offsetOf(position));
  }

  /** The committed position of `partition` (default 0). */
  async committed(group: string, topic: string, partition = 0): Promise<Position | undefined> {
    this.checkGroup(group, topic);
    await this.kafkaTopics.info(topic);
    const offsets = await this.commits.committed(group, this.kafkaTopics.name(topic), [partition]);
    const offset = offsets.get(partition);
    return offset === undefined ? undefined : positionOf(partition, offset);
  }

  async joinGroup(group: string, topic: string, options: JoinOptions = {}): Promise<GroupMembership> {
    this.checkGroup(group, topic);
    const info = await this.kafkaTopics.ensure(topic);
    return joinKafkaGroup(this.options, {
      group,
      topic,
      groupId: `${this.options.prefix}${group}`,
      kafkaTopic: this.kafkaTopics.name(topic),
      partitions: info.partitions.length,
      sessionTimeoutMs: options.sessionTimeoutMs ?? 10_000,
    });
  }

  async lag(group: string, topic: string): Promise<number> {
    this.checkGroup(group, topic);
    const info = await this.kafkaTopics.info(topic);
    const name = this.kafkaTopics.name(topic);
    const partitions = info.partitions.map((p) => p.partition);
    const [bounds, committed] = await Promise.all([
      partitionBounds(this.clients.admin, name, partitions),
      this.commits.committed(group, name, partitions),
    ]);
    let lag = 0n;
    for (const p of partitions) {
      const { start, end } = bounds.get(p)!;
      const done = committed.get(p);
      // Entries after the commit; whatever retention dropped is not there to be behind on.
      const from = done === undefined || done + 1n < start ? start : done + 1n;
      if (end > from) lag += end - from;
    }
    this.options.metrics.gauge(METRIC.consumerLag, Number(lag), { backend: BACKEND, group, topic });
    return Number(lag);
  }

  async topics(): Promise<string[]> {
    this.checkOpen();
    return this.kafkaTopics.list();
  }

  /** From ListOffsets alone: cheap enough for every scrape and every processor start. */
  async extent(topic: string): Promise<TopicExtent> {
    const { extent } = await this.measure(topic, false);
    return extent;
  }

  /** extent() and the bytes, which Kafka can only count by reading the records (partition-sizes.ts). */
  async stats(topic: string): Promise<TopicStats> {
    const { extent, bytes } = await this.measure(topic, true);
    this.options.metrics.gauge(METRIC.walSize, bytes, { backend: BACKEND, topic });
    return { ...extent, bytes };
  }

  /** The topic's partitions, or, for a topic not created yet, those its first append creates. */
  async partitions(topic: string): Promise<number> {
    this.checkOpen();
    if (!isValidTopic(topic)) throw new InvalidTopicError(topic);
    try {
      return (await this.kafkaTopics.info(topic, true)).partitions.length;
    } catch (error) {
      if (error instanceof UnknownTopicError) return this.options.partitions;
      throw error;
    }
  }

  private async measure(topic: string, withBytes: boolean): Promise<{ extent: TopicExtent; bytes: number }> {
    this.checkOpen();
    if (!isValidTopic(topic)) throw new InvalidTopicError(topic);
    const info = await this.kafkaTopics.info(topic);
    const name = this.kafkaTopics.name(topic);
    const partitions = info.partitions.map((p) => p.partition);
    const bounds = await partitionBounds(this.clients.admin, name, partitions);
    let entries = 0n;
    let bytes = 0;
    let first: Position | undefined;
    let last: Position | undefined;
    for (const p of partitions) {
      const { start, end } = bounds.get(p)!;
      if (end <= start) continue;
      entries += end - start;
      if (withBytes) bytes += await this.sizes.bytes(topic, info, p, start, end);
      first ??= positionOf(p, start);
      last = positionOf(p, end - 1n);
    }
    return { extent: { topic, entries: Number(entries), first, last }, bytes };
  }

  async applyRetention(topic: string, policy: RetentionPolicy): Promise<number> {
    this.checkOpen();
    if (!isValidTopic(topic)) throw new InvalidTopicError(topic);
    const info = await this.kafkaTopics.info(topic);
    const name = this.kafkaTopics.name(topic);
    const bounds = await partitionBounds(
      this.clients.admin,
      name,
      info.partitions.map((p) => p.partition),
    );
    const lowestCommitted = async () => {
      const lowest = new Map<number, bigint>();
      for (const offsets of (await this.commits.all(name, this.options.prefix)).values())
        for (const [p, offset] of offsets)
          if (!lowest.has(p) || offset < lowest.get(p)!) lowest.set(p, offset);
      return lowest;
    };
    return applyKafkaRetention(
      { admin: this.clients.admin, sizes: this.sizes, lowestCommitted },
      topic,
      name,
      info,
      bounds,
      policy,
    );
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    // Appends already accepted finish (or fail) before anything is torn down.
    await this.inFlight.settled();
    this.signalClosed();
    await this.clients.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private checkOpen(): void {
    if (this.closing) throw new LogClosedError();
  }

  private checkGroup(group: string, topic: string): void {
    this.checkOpen();
    if (!isValidTopic(topic)) throw new InvalidTopicError(topic);
    if (group.length === 0) throw new TypeError('a consumer group name must not be empty');
  }
}

/**
 * Opens the Kafka log on `kafka://host:port[,host:port…]` (options.ts) or explicit options, and
 * checks that a broker answers: a wrong address fails here, not at the first append.
 */
export async function createKafkaLog(
  spec: string | KafkaLogOptions,
  extra: Omit<KafkaLogOptions, 'brokers'> = {},
): Promise<Log> {
  const options = resolveKafkaOptions({
    ...(typeof spec === 'string' ? parseKafkaSpec(spec) : spec),
    ...extra,
  });
  const clients = createClients(options);
  try {
    await clients.admin.listTopics();
  } catch (error) {
    await clients.close().catch(() => undefined); // the connect failure below is the report
    throw unavailable(`connecting to Kafka at ${options.brokers.join(',')} failed`, error);
  }
  return new KafkaLog(clients, options);
}

/** A read that fails when first iterated, as an async generator that throws at once would. */
function failing(error: Error): AsyncIterable<LogEntry[]> {
  return {
    [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(error) }),
  };
}
