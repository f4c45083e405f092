import type { JetStreamClient, JetStreamManager, StreamInfo } from '@nats-io/jetstream';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connect } from '@nats-io/transport-node';
import { METRIC } from '../../observe/metrics.ts';
import { InvalidTopicError, LogClosedError } from '../errors.ts';
import { InFlight } from '../in-flight.ts';
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
import { NatsNames } from './names.ts';
import { failureReason, isNoResponders, unavailable } from './nats-errors.ts';
import type { StoredPosition } from './offsets.ts';
import { GroupOffsets } from './offsets.ts';
import type { NatsLogOptions, ResolvedNatsLogOptions } from './options.ts';
import { resolveOptions } from './options.ts';
import { MessageIds, publishInOrder } from './publish.ts';
import type { ReaderContext } from './reader.ts';
import { readTopic } from './reader.ts';
import { applyRetention } from './retention.ts';
import { positionOf, sequenceOf } from './sequence.ts';
import { StreamRecreatedError, StreamSettingsError } from './stream-errors.ts';
import { TopicStreams } from './topic-streams.ts';

const BACKEND = 'nats';
/** Room for the subject and headers on top of max_payload when sizing a pull. */
const MESSAGE_OVERHEAD_BYTES = 64 * 1024;
/** The server's default max_payload, if its INFO did not say. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/**
 * The Log on NATS JetStream: a stream per topic, positions are stream sequences, an append is
 * durable once the stream's PubAck is in (see docs/log-nats.md for what that means on disk).
 */
class NatsLog implements Log {
  readonly backend = BACKEND;
  private readonly names: NatsNames;
  private readonly maxPayload: number;
  private readonly streams: TopicStreams;
  private readonly offsets: GroupOffsets;
  private readonly ids = new MessageIds();
  /** Per topic, the highest sequence an append of this process was acknowledged with. */
  private readonly lastAcked = new Map<string, number>();
  private readonly inFlight = new InFlight();
  private readonly readers = new Set<() => Promise<void>>();
  private readonly readerContext: ReaderContext;
  private signalClosed!: () => void;
  private readonly closedSignal = new Promise<void>((resolve) => (this.signalClosed = resolve));
  private closing: Promise<void> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly ownsConnection: boolean,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly options: ResolvedNatsLogOptions,
  ) {
    this.names = new NatsNames(options.prefix);
    this.maxPayload = nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
    const settings = { replicas: options.replicas, storage: options.storage };
    this.streams = new TopicStreams(jsm, this.names, settings, (topic, reason) =>
      options.metrics.count(METRIC.logStreamCheckFailures, { backend: BACKEND, topic, reason }),
    );
    this.offsets = new GroupOffsets(js, jsm, this.names, settings);
    this.readerContext = {
      js,
      streams: this.streams,
      names: this.names,
      maxMessageBytes: this.maxPayload + MESSAGE_OVERHEAD_BYTES,
      closed: this.closedSignal,
      isClosed: () => this.closing !== undefined,
      connected: () => !nc.isClosed() && !nc.isDraining(),
      register: (release) => {
        this.readers.add(release);
        return () => this.readers.delete(release);
      },
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
    // Appends acknowledged before this one started got lower sequences than any of this one's.
    const floor = this.lastAcked.get(topic) ?? 0;
    try {
      await this.streams.ensure(topic);
      const positions = await publishInOrder(this.js, this.names.subject(topic), entries, this.ids, {
        timeoutMs: this.options.publishTimeoutMs,
        retries: this.options.publishRetries,
        maxPayload: this.maxPayload,
      });
      this.checkSequencesMoveOn(topic, floor, positions);
      this.options.metrics.observe(METRIC.walAppendLatency, (performance.now() - started) / 1000, labels);
      this.options.metrics.count(METRIC.walEntries, labels, entries.length);
      return positions;
    } catch (caught) {
      let error = caught;
      if (isNoResponders(error)) {
        // Nobody listens on the subject: a leader election, or the stream is gone. The next
        // append looks again (and creates the stream only if this process never used it).
        this.streams.forget(topic);
        error = (await this.streams.lostStream(topic)) ?? error;
      }
      this.options.metrics.count(METRIC.walAppendErrors, { backend: BACKEND, reason: failureReason(error) });
      if (error instanceof StreamRecreatedError || error instanceof StreamSettingsError) throw error;
      throw unavailable(`appending ${entries.length} entries to "${topic}" failed`, error);
    }
  }

  /** A sequence at or below one acknowledged earlier means the stream was created again (another process appended first). */
  private checkSequencesMoveOn(topic: string, floor: number, positions: readonly Position[]): void {
    const first = sequenceOf(positions[0]!);
    if (first <= floor) {
      this.options.metrics.count(METRIC.logStreamCheckFailures, {
        backend: BACKEND,
        topic,
        reason: 'recreated',
      });
      throw new StreamRecreatedError(
        topic,
        `an append was stored at sequence ${first}, after one at ${floor}; the entries are in the new stream but not acknowledged`,
      );
    }
    const last = sequenceOf(positions.at(-1)!);
    if (last > floor) this.lastAcked.set(topic, Math.max(last, this.lastAcked.get(topic) ?? 0));
  }

  read(topic: string, options: ReadOptions): AsyncIterable<LogEntry[]> {
    return readTopic(this.readerContext, topic, options);
  }

  async commit(group: string, topic: string, position: Position): Promise<void> {
    this.checkOpen();
    this.checkGroup(group, topic);
    const info = await this.streams.info(topic);
    await this.offsets.commit(group, topic, position, info.created);
  }

  async committed(group: string, topic: string): Promise<Position | undefined> {
    this.checkOpen();
    this.checkGroup(group, topic);
    const info = await this.streams.info(topic);
    const stored = await this.offsets.committed(group, topic);
    if (stored !== undefined) this.checkTakenFrom(stored, topic, info);
    return stored?.position;
  }

  /**
   * A position committed on another stream of the same name (one deleted since) would make its
   * group skip the new stream's entries up to it: refuse it, loudly. Commits from before
   * positions were stamped are checked against the stream's last sequence alone.
   */
  private checkTakenFrom(stored: StoredPosition, topic: string, info: StreamInfo): void {
    let detail: string | undefined;
    if (stored.streamCreated !== undefined && stored.streamCreated !== info.created)
      detail = `${stored.subject} holds ${stored.position}, committed on the stream created at ${stored.streamCreated}; the stream now was created at ${info.created}`;
    else if (stored.position > positionOf(info.state.last_seq))
      detail = `${stored.subject} holds ${stored.position}, beyond the stream's last sequence ${info.state.last_seq}`;
    if (detail === undefined) return;
    this.options.metrics.count(METRIC.logStreamCheckFailures, {
      backend: BACKEND,
      topic,
      reason: 'recreated',
    });
    throw new StreamRecreatedError(topic, detail);
  }

  private async lowestCommitted(topic: string, info: StreamInfo): Promise<Position | undefined> {
    let lowest: Position | undefined;
    for (const stored of await this.offsets.all(topic)) {
      this.checkTakenFrom(stored, topic, info);
      if (lowest === undefined || stored.position < lowest) lowest = stored.position;
    }
    return lowest;
  }

  async lag(group: string, topic: string): Promise<number> {
    this.checkOpen();
    this.checkGroup(group, topic);
    const info = await this.streams.info(topic);
    const { state } = info;
    const stored = await this.offsets.committed(group, topic);
    if (stored !== undefined) this.checkTakenFrom(stored, topic, info);
    const committed = stored?.position;
    let lag = state.messages;
    if (committed !== undefined && state.messages > 0) {
      // Entries after the commit; whatever retention dropped is not there to be behind on.
      const after = state.last_seq - Math.max(sequenceOf(committed), state.first_seq - 1);
      lag = Math.min(state.messages, Math.max(0, after));
    }
    this.options.metrics.gauge(METRIC.consumerLag, lag, { backend: BACKEND, group, topic });
    return lag;
  }

  async topics(): Promise<string[]> {
    this.checkOpen();
    return this.streams.topics();
  }

  async stats(topic: string): Promise<TopicStats> {
    this.checkOpen();
    if (!isValidTopic(topic)) throw new InvalidTopicError(topic);
    const { state } = await this.streams.info(topic);
    const empty = state.messages === 0;
    this.options.metrics.gauge(METRIC.walSize, state.bytes, { backend: BACKEND, topic });
    return {
      topic,
      entries: state.messages,
      bytes: state.bytes,
      first: empty ? undefined : positionOf(state.first_seq),
      last: empty ? undefined : positionOf(state.last_seq),
    };
  }

  async applyRetention(topic: string, policy: RetentionPolicy): Promise<number> {
    this.checkOpen();
    if (!isValidTopic(topic)) throw new InvalidTopicError(topic);
    const info = await this.streams.info(topic);
    const lowestCommitted = () => this.lowestCommitted(topic, info);
    return applyRetention({ js: this.js, jsm: this.jsm, lowestCommitted }, topic, info, policy);
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const failures: unknown[] = [];
    // Appends already accepted finish (or fail) before anything is torn down.
    await this.inFlight.settled();
    this.signalClosed();
    for (const result of await Promise.allSettled([...this.readers].map((release) => release()))) {
      if (result.status === 'rejected') failures.push(result.reason);
    }
    if (this.ownsConnection && !this.nc.isClosed()) {
      try {
        await this.nc.drain();
      } catch (error) {
        failures.push(error);
      }
    }
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) throw new AggregateError(failures, 'closing the NATS log failed');
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private checkOpen(): void {
    if (this.closing) throw new LogClosedError();
  }

  private checkGroup(group: string, topic: string): void {
    if (!isValidTopic(topic)) throw new InvalidTopicError(topic);
    if (group.length === 0) throw new TypeError('a consumer group name must not be empty');
  }
}

/**
 * Opens the NATS log. Given a URL it connects (reconnecting without limit) and drains and closes
 * the connection on close(); given a connection it uses it and leaves it open.
 */
export async function createNatsLog(
  connection: NatsConnection | string,
  options: NatsLogOptions = {},
): Promise<Log> {
  const resolved = resolveOptions(options);
  let nc: NatsConnection;
  const owns = typeof connection === 'string';
  if (typeof connection === 'string') {
    try {
      nc = await connect({ servers: connection, name: 'tierflow-log', maxReconnectAttempts: -1 });
    } catch (error) {
      throw unavailable(`connecting to NATS at ${connection} failed`, error);
    }
  } else {
    nc = connection;
  }
  try {
    const jsm = await jetstreamManager(nc, { timeout: resolved.publishTimeoutMs });
    const js = jetstream(nc, { timeout: resolved.publishTimeoutMs });
    return new NatsLog(nc, owns, js, jsm, resolved);
  } catch (error) {
    if (owns) await nc.close();
    throw unavailable('JetStream is not available', error);
  }
}
