import { mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Metrics } from '../../observe/metrics.ts';
import { METRIC, noopMetrics } from '../../observe/metrics.ts';
import { InvalidTopicError, LogClosedError, LogUnavailableError, UnknownTopicError } from '../errors.ts';
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
import type { DurableIO } from './fs-io.ts';
import { nodeIO } from './fs-io.ts';
import { GroupOffsets } from './group-offsets.ts';
import { acquireLock } from '../../core/dir-lock.ts';
import { FrameBuffer, MAX_RECORD_BYTES } from './record.ts';
import type { Segment } from './segment.ts';
import { ReadCursor, Topic, topicDir } from './topic.ts';

export interface FileLogOptions {
  /** A segment is sealed and a new one started beyond this size. Default 64 MiB. */
  segmentBytes?: number;
  /** Appends wait (backpressure) while more than this many bytes await their fsync. Default 64 MiB. */
  maxPendingBytes?: number;
  metrics?: Metrics;
  /** Fault injection for tests: the write and fdatasync calls. */
  io?: DurableIO;
}

interface PendingAppend {
  topic: Topic;
  entries: readonly LogEntryInput[];
  bytes: number;
  enqueued: number;
  resolve: (positions: Position[]) => void;
  reject: (error: unknown) => void;
}

interface SealRequest {
  topic: Topic;
  gone: (segment: Segment) => boolean;
  resolve: (sealed: boolean) => void;
  reject: (error: unknown) => void;
}

/**
 * The embedded log: a directory of topics, each a list of append-only segment files of framed,
 * checksummed records. Durable means fdatasync'ed: `append` resolves only after the fsync that
 * covers its records, and concurrent appends share one fsync (group commit).
 */
class FileLog implements Log {
  readonly backend = 'file';
  private readonly topicsByName = new Map<string, Promise<Topic>>();
  private readonly groups = new Map<string, Promise<GroupOffsets>>();
  private pending: PendingAppend[] = [];
  private seals: SealRequest[] = [];
  private pendingBytes = 0;
  private flushing: Promise<void> | undefined;
  private spaceWaiters: (() => void)[] = [];
  private failure: LogUnavailableError | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly stopReaders: Promise<void>;
  private signalStop!: () => void;
  private readonly segmentBytes: number;
  private readonly maxPendingBytes: number;
  private readonly metrics: Metrics;
  private readonly io: DurableIO;
  /** Where each round's records are framed before they are written (one round at a time). */
  private readonly frames = new FrameBuffer();

  constructor(
    readonly dir: string,
    private readonly releaseLock: () => Promise<void>,
    options: FileLogOptions,
  ) {
    this.segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
    this.maxPendingBytes = options.maxPendingBytes ?? 64 * 1024 * 1024;
    this.metrics = options.metrics ?? noopMetrics;
    this.io = options.io ?? nodeIO;
    this.stopReaders = new Promise((resolve) => (this.signalStop = resolve));
  }

  async append(name: string, entries: readonly LogEntryInput[]): Promise<Position[]> {
    if (this.closed) throw new LogClosedError();
    if (this.failure) throw this.failure;
    if (!isValidTopic(name)) throw new InvalidTopicError(name);
    if (entries.length === 0) return [];
    let bytes = 0;
    for (const e of entries) {
      // The whole record counts against the limit, or recovery would take it for damage.
      const size = recordSize(e);
      bytes += size;
      if (size > MAX_RECORD_BYTES) {
        throw new LogUnavailableError(
          `an entry of ${size} bytes (key, headers and payload) exceeds the ${MAX_RECORD_BYTES}-byte record limit`,
          {
            retriable: false,
          },
        );
      }
    }
    const topic = await this.topic(name, true);
    while (this.pendingBytes > 0 && this.pendingBytes + bytes > this.maxPendingBytes) {
      await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
      if (this.closed) throw new LogClosedError();
    }
    return new Promise<Position[]>((resolve, reject) => {
      this.pending.push({ topic, entries, bytes, enqueued: performance.now(), resolve, reject });
      this.pendingBytes += bytes;
      this.flushing ??= this.flushLoop();
    });
  }

  /**
   * Group commit: everything queued while the previous round was in its fsync goes in the next
   * round. Retention's seals of active segments run here too, between rounds, since a round
   * writes to the active segment.
   */
  private async flushLoop(): Promise<void> {
    while (this.pending.length > 0 || this.seals.length > 0) {
      // Let the appenders just acknowledged queue their next entries (promise continuations run
      // before a macrotask), so the round carries everything ready instead of a fraction of it.
      await new Promise((resolve) => setImmediate(resolve));
      await this.runSeals();
      if (this.pending.length === 0) continue;
      const round = this.pending;
      this.pending = [];
      await this.flushRound(round);
      for (const p of round) this.pendingBytes -= p.bytes;
      for (const wake of this.spaceWaiters.splice(0)) wake();
    }
    this.flushing = undefined;
  }

  private async flushRound(round: PendingAppend[]): Promise<void> {
    if (this.failure) {
      for (const p of round) p.reject(this.failure);
      return;
    }
    const byTopic = new Map<Topic, PendingAppend[]>();
    for (const p of round) byTopic.set(p.topic, [...(byTopic.get(p.topic) ?? []), p]);
    const written: {
      topic: Topic;
      appends: PendingAppend[];
      records: { offset: bigint; position: number; size: number; timestamp: number }[];
    }[] = [];
    try {
      for (const [topic, appends] of byTopic) {
        if (topic.active.size > 0 && topic.active.size >= this.segmentBytes) await topic.roll();
        let offset = topic.nextOffset;
        let position = topic.active.size;
        // Topics are written one after the other, so one buffer serves them all in turn.
        this.frames.clear();
        const records = [];
        for (const p of appends) {
          for (const e of p.entries) {
            const timestamp = (topic.lastTimestamp = Math.max(Date.now(), topic.lastTimestamp));
            const size = this.frames.add({
              offset,
              timestamp,
              key: e.key,
              headers: { ...e.headers },
              payload: e.payload,
            });
            records.push({ offset, position, size, timestamp });
            offset++;
            position += size;
          }
        }
        try {
          await this.io.write(topic.handle!, [this.frames.bytes], topic.active.size);
        } catch (error) {
          await this.undoWrite(topic, error);
          throw new LogUnavailableError(`cannot write to ${topic.active.file}: ${(error as Error).message}`, {
            retriable: true,
            cause: error,
          });
        }
        written.push({ topic, appends, records });
      }
    } catch (error) {
      for (const w of written) await this.undoWrite(w.topic, error);
      this.metrics.count(METRIC.walAppendErrors, { backend: 'file', reason: 'write' }, round.length);
      for (const p of round) p.reject(error);
      return;
    }
    try {
      await Promise.all(written.map((w) => this.io.datasync(w.topic.handle!)));
    } catch (error) {
      // After a failed fsync the kernel may have dropped the dirty pages: what is on disk is
      // unknown, and retrying the fsync can report success for lost data. Refuse appends until
      // the log is reopened, which recovers from what really is on disk.
      this.failure = new LogUnavailableError(
        `fsync failed (${(error as Error).message}); the log refuses appends until it is reopened`,
        {
          retriable: false,
          cause: error,
        },
      );
      this.metrics.count(METRIC.walAppendErrors, { backend: 'file', reason: 'fsync' }, round.length);
      for (const p of round) p.reject(this.failure);
      return;
    }
    const now = performance.now();
    for (const { topic, appends, records } of written) {
      for (const r of records) topic.active.noteRecord(r.offset, r.position, r.size, r.timestamp);
      let first = records[0]!.offset;
      for (const p of appends) {
        const positions = p.entries.map((_, i) => first + BigInt(i));
        first += BigInt(p.entries.length);
        this.metrics.observe(METRIC.walAppendLatency, (now - p.enqueued) / 1000, {
          backend: 'file',
          topic: topic.name,
        });
        p.resolve(positions);
      }
      this.metrics.count(METRIC.walEntries, { backend: 'file', topic: topic.name }, records.length);
      this.metrics.gauge(METRIC.walSize, topic.bytes, { backend: 'file', topic: topic.name });
      topic.notify();
    }
  }

  /** Cuts a failed write back to the durable size, so the next round starts on a record boundary. */
  private async undoWrite(topic: Topic, cause: unknown): Promise<void> {
    try {
      await topic.handle!.truncate(topic.active.size);
      await this.io.datasync(topic.handle!);
    } catch (error) {
      this.failure ??= new LogUnavailableError(
        `cannot restore ${topic.active.file} after a failed write (${(error as Error).message}); the log refuses appends until it is reopened`,
        { retriable: false, cause: cause },
      );
    }
  }

  async *read(name: string, options: ReadOptions): AsyncGenerator<LogEntry[]> {
    if (this.closed) throw new LogClosedError();
    const topic = await this.topic(name, false);
    const maxEntries = options.maxBatchEntries ?? 1000;
    const maxBytes = options.maxBatchBytes ?? 4 * 1024 * 1024;
    const follow = options.follow ?? true;
    const stop = options.signal
      ? Promise.race([
          this.stopReaders,
          new Promise<void>((resolve) =>
            options.signal!.addEventListener('abort', () => resolve(), { once: true }),
          ),
        ])
      : this.stopReaders;
    let offset = await this.startOffset(topic, options);
    const cursor = new ReadCursor(topic);
    try {
      while (!this.closed && !options.signal?.aborted) {
        const batch = await cursor.read(offset, maxEntries, maxBytes);
        if (batch.length > 0) {
          offset = batch.at(-1)!.position + 1n;
          yield batch;
          continue;
        }
        if (!follow) return;
        await topic.waitBeyond(offset, stop);
      }
    } finally {
      await cursor.close();
    }
  }

  private async startOffset(topic: Topic, options: ReadOptions): Promise<bigint> {
    const from = options.from;
    if (from === 'earliest') return topic.firstOffset;
    if (from === 'latest') return topic.nextOffset;
    if (from instanceof Date) return topic.offsetAtTime(from.getTime());
    if (typeof from === 'bigint') return from;
    return from.after + 1n;
  }

  async commit(group: string, name: string, position: Position): Promise<void> {
    if (this.closed) throw new LogClosedError();
    await (await this.groupOffsets(name)).commit(group, position);
  }

  async committed(group: string, name: string): Promise<Position | undefined> {
    return (await this.groupOffsets(name)).get(group);
  }

  async lag(group: string, name: string): Promise<number> {
    const topic = await this.topic(name, false);
    const committed = (await this.groupOffsets(name)).get(group);
    const from = committed === undefined ? topic.firstOffset : committed + 1n;
    const lag = Math.max(0, Number(topic.nextOffset - (from < topic.firstOffset ? topic.firstOffset : from)));
    this.metrics.gauge(METRIC.consumerLag, lag, { backend: 'file', group, topic: name });
    return lag;
  }

  async topics(): Promise<string[]> {
    try {
      return (await readdir(path.join(this.dir, 'topics'))).filter(isValidTopic).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  async stats(name: string): Promise<TopicStats> {
    const topic = await this.topic(name, false);
    const entries = Number(topic.nextOffset - topic.firstOffset);
    return {
      topic: name,
      entries,
      bytes: topic.bytes,
      first: entries > 0 ? topic.firstOffset : undefined,
      last: entries > 0 ? topic.nextOffset - 1n : undefined,
    };
  }

  async applyRetention(name: string, policy: RetentionPolicy): Promise<number> {
    const topic = await this.topic(name, false);
    const lowest = policy.force ? undefined : (await this.groupOffsets(name)).lowest();
    const now = Date.now();
    // Whether every entry of a segment may go: without groups (or when forced) no commit holds
    // entries back; keepFrom always does.
    const released = (segment: Segment) =>
      (lowest === undefined || segment.nextOffset - 1n <= lowest) &&
      (policy.keepFrom === undefined || segment.nextOffset <= policy.keepFrom);
    const expired = (segment: Segment) =>
      policy.maxAgeMs !== undefined && (segment.lastTimestamp ?? 0) < now - policy.maxAgeMs;
    const sealed = topic.segments.filter((s) => s.sealed);
    let total = topic.bytes;
    let count = 0;
    for (const segment of sealed) {
      const tooBig = policy.maxBytes !== undefined && total > policy.maxBytes;
      if (!(tooBig || expired(segment)) || !released(segment)) break;
      total -= segment.size;
      count++;
    }
    // A quiet topic may never fill its active segment; once all of it is past the age limit,
    // seal it so it can go too. (Not for size: a size limit never empties a topic.)
    if (count === sealed.length && (await this.sealIfAllGone(topic, (s) => expired(s) && released(s))))
      count++;
    const dropped = await topic.dropOldest(count);
    this.metrics.gauge(METRIC.walSize, topic.bytes, { backend: 'file', topic: name });
    return dropped;
  }

  /**
   * Seals the active segment of a topic if `gone` holds for all of it, so retention can drop it.
   * The flush loop does it between two rounds; appends queued meanwhile go to the next segment.
   */
  private sealIfAllGone(topic: Topic, gone: (segment: Segment) => boolean): Promise<boolean> {
    if (this.closed) return Promise.reject(new LogClosedError());
    if (topic.active.entries === 0 || !gone(topic.active)) return Promise.resolve(false);
    return new Promise<boolean>((resolve, reject) => {
      this.seals.push({ topic, gone, resolve, reject });
      this.flushing ??= this.flushLoop();
    });
  }

  private async runSeals(): Promise<void> {
    for (const seal of this.seals.splice(0)) {
      try {
        // Looked at again: a round since the request may have added entries that must stay.
        const { topic } = seal;
        if (topic.active.entries === 0 || !seal.gone(topic.active)) {
          seal.resolve(false);
          continue;
        }
        await topic.roll();
        seal.resolve(true);
      } catch (error) {
        seal.reject(error);
      }
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      await this.flushing;
      this.signalStop();
      for (const wake of this.spaceWaiters.splice(0)) wake();
      const errors: unknown[] = [];
      for (const topic of this.topicsByName.values()) {
        try {
          await (await topic).handle?.close();
        } catch (error) {
          errors.push(error);
        }
      }
      await this.releaseLock();
      if (errors.length > 0) throw new AggregateError(errors, 'closing the file log');
    })();
    return this.closing;
  }

  /** Recovers every topic now, so damage is reported when the log opens rather than on first use. */
  async recoverAll(): Promise<void> {
    for (const name of await this.topics()) await this.topic(name, false);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private topic(name: string, create: boolean): Promise<Topic> {
    if (!isValidTopic(name)) return Promise.reject(new InvalidTopicError(name));
    let topic = this.topicsByName.get(name);
    // A reader's lookup of a topic that does not exist yet may be under way: an append must not
    // inherit its "unknown topic", it creates the topic instead.
    if (topic && create) {
      const pending = topic;
      topic = pending.catch((error: unknown) => {
        if (!(error instanceof UnknownTopicError)) throw error;
        return this.topic(name, true);
      });
    }
    if (!topic) {
      const dir = topicDir(this.dir, name);
      topic = (async () => {
        if (!create && !(await exists(dir))) throw new UnknownTopicError(name);
        return Topic.open(name, dir, create);
      })();
      this.topicsByName.set(name, topic);
      topic.catch(() => this.topicsByName.delete(name));
    }
    return topic;
  }

  private groupOffsets(name: string): Promise<GroupOffsets> {
    let offsets = this.groups.get(name);
    if (!offsets) {
      offsets = this.topic(name, false).then(() => GroupOffsets.load(topicDir(this.dir, name)));
      this.groups.set(name, offsets);
      offsets.catch(() => this.groups.delete(name));
    }
    return offsets;
  }
}

function recordSize(e: LogEntryInput): number {
  const headers = e.headers ? Buffer.byteLength(JSON.stringify(e.headers)) : 2;
  return 64 + (e.key === undefined ? 0 : Buffer.byteLength(e.key)) + headers + e.payload.length;
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * Opens the embedded file log in `dir` (created if missing). One process at a time may hold a
 * directory; topics are recovered lazily on first use: torn tails cut, corruption reported.
 */
export async function createFileLog(dir: string, options: FileLogOptions = {}): Promise<Log> {
  const root = path.resolve(dir);
  await mkdir(path.join(root, 'topics'), { recursive: true });
  const release = await acquireLock(root);
  const log = new FileLog(root, release, options);
  try {
    await log.recoverAll();
  } catch (error) {
    await log.close();
    throw error;
  }
  return log;
}
