import type { Change, Dataset } from '../core/index.ts';
import { TierflowError } from '../core/index.ts';
import type { LakeCommit } from '../lake/lake-writer.ts';
import { UnknownTopicError } from '../log/errors.ts';
import type { Log, LogEntry, Position } from '../log/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import { METRIC, noopMetrics } from '../observe/metrics.ts';
import type { BreakerOptions } from './breaker.ts';
import { Breaker } from './breaker.ts';
import { decodeEvent } from './data-written-event.ts';

export interface ColdStorageConsumerOptions {
  topic: string;
  group?: string;
  /** Write to the lake once this many rows are buffered… */
  maxBatchRows?: number;
  /** …or once the oldest buffered row has waited this long. */
  maxBatchMs?: number;
  /** Between attempts to write a failing batch, doubling up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
  datasetOf: (name: string) => Dataset<unknown, unknown>;
  metrics?: Metrics;
  onError?: (error: unknown) => void;
  breaker?: BreakerOptions;
}

/** Where the consumer puts changes: the LakeWriter, or anything that writes like it. */
export interface LakeSink {
  write(dataset: Dataset<unknown, unknown>, changes: readonly Change[]): Promise<LakeCommit>;
}

/** Rows one event may carry: the lake position of a row packs (event position, index). */
const ROW_BITS = 20n;
const MAX_EVENT_POSITION = 1n << (63n - ROW_BITS);

export class LakePositionError extends TierflowError {
  constructor(position: Position) {
    super(
      'LAKE_POSITION',
      `event position ${position} is too large to number its rows in the lake (limit 2^43); use the file or NATS log for stage 1`,
    );
  }
}

/**
 * Stage 1's cold side: a consumer group on the event topic that batches events by size and time,
 * writes each dataset's changes to the lake, and commits its log position only after the lake
 * commit. A row's lake position is its event's log position × 2^20 + its index in the event, so
 * a batch read again after a crash has the same positions and the lake skips what it holds.
 * A failing lake write is retried with backoff while events wait in the log; nothing is dropped.
 */
export class ColdStorageConsumer {
  private readonly group: string;
  private buffer = new Map<string, Change[]>();
  private bufferedRows = 0;
  private oldestBuffered: number | undefined;
  private lastBuffered: Position | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly controller = new AbortController();
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  /** Rows committed to the lake by this consumer since it started. */
  rowsCommitted = 0;
  /** Opens when the lake keeps failing; events then wait in the log until a probe succeeds. */
  readonly coldBreaker: Breaker;

  constructor(
    private readonly log: Log,
    private readonly lake: LakeSink,
    private readonly options: ColdStorageConsumerOptions,
  ) {
    this.group = options.group ?? 'cold-storage';
    this.coldBreaker = new Breaker('cold', { metrics: options.metrics, ...options.breaker });
  }

  private get metrics(): Metrics {
    return this.options.metrics ?? noopMetrics;
  }

  start(): void {
    if (this.running) return;
    const maxMs = this.options.maxBatchMs ?? 1_000;
    this.timer = setInterval(
      () => {
        if (this.oldestBuffered !== undefined && Date.now() - this.oldestBuffered >= maxMs) void this.flush();
      },
      Math.max(10, Math.floor(maxMs / 4)),
    );
    this.running = this.consume();
  }

  private async consume(): Promise<void> {
    const signal = this.controller.signal;
    while (!signal.aborted) {
      try {
        const committed = await this.log.committed(this.group, this.options.topic);
        const from = committed === undefined ? ('earliest' as const) : { after: committed };
        for await (const batch of this.log.read(this.options.topic, { from, signal })) {
          for (const entry of batch) this.add(entry);
          if (this.bufferedRows >= (this.options.maxBatchRows ?? 10_000)) await this.flush();
        }
      } catch (error) {
        if (!(error instanceof UnknownTopicError)) this.options.onError?.(error);
        // No event yet (the topic appears with the first one), or a read failed: try again soon.
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  private add(entry: LogEntry): void {
    if (entry.position >= MAX_EVENT_POSITION) throw new LakePositionError(entry.position);
    const event = decodeEvent(entry.payload, this.options.datasetOf);
    const dataset = this.options.datasetOf(event.dataset);
    let changes = this.buffer.get(event.dataset);
    if (!changes) this.buffer.set(event.dataset, (changes = []));
    const base = entry.position << ROW_BITS;
    event.rows.forEach((row, i) => {
      changes.push({
        dataset: event.dataset,
        op: event.op === 'delete' ? 'd' : 'u',
        key: Object.fromEntries(dataset.primaryKey.map((k) => [k, row[k]])),
        after: event.op === 'delete' ? undefined : row,
        eventTime: event.eventTimes[i]!,
        position: base + BigInt(i),
        source: 'dual-write',
        schemaVersion: event.schemaVersion,
      });
    });
    this.bufferedRows += event.rows.length;
    this.oldestBuffered ??= Date.now();
    this.lastBuffered = entry.position;
    this.metrics.gauge(METRIC.coldBacklog, this.bufferedRows);
  }

  /** Writes everything buffered to the lake, then commits the log position. Serialised. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.flushNow());
    return this.flushing;
  }

  private async flushNow(): Promise<void> {
    if (this.lastBuffered === undefined) return;
    const batch = this.buffer;
    const position = this.lastBuffered;
    const oldest = this.oldestBuffered!;
    this.buffer = new Map();
    this.bufferedRows = 0;
    this.oldestBuffered = undefined;
    this.lastBuffered = undefined;
    let backoff = this.options.backoffMs ?? 100;
    for (;;) {
      try {
        await this.coldBreaker.execute(async () => {
          for (const [name, changes] of batch) await this.lake.write(this.options.datasetOf(name), changes);
        });
        await this.log.commit(this.group, this.options.topic, position);
        for (const changes of batch.values()) this.rowsCommitted += changes.length;
        this.metrics.gauge(METRIC.coldLag, (Date.now() - oldest) / 1000);
        return;
      } catch (error) {
        this.options.onError?.(error);
        // Stopping gives up on the batch: it was not committed, so it waits in the log for the next start.
        if (this.stopping) throw error;
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(backoff * 2, this.options.maxBackoffMs ?? 5_000);
      }
    }
  }

  /** Stops reading, writes what is buffered, commits, and returns. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.controller.abort();
    await this.running;
    await this.flush();
  }
}
