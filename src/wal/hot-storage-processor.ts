import type { Dataset } from '../core/index.ts';
import type { HotStore } from '../hot/hot-store.ts';
import { toHotError } from '../hot/pg-errors.ts';
import { inTransaction } from '../hot/transaction.ts';
import { UnknownTopicError } from '../log/errors.ts';
import type { Log, LogEntry, Position } from '../log/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import { METRIC, noopMetrics } from '../observe/metrics.ts';
import type { HotEntry } from './apply-to-hot.ts';
import { applyToHot, hotEntryOf } from './apply-to-hot.ts';
import { readCheckpoint, saveCheckpoint } from './checkpoints.ts';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { WAL_TOPIC } from './wal-entry.ts';

export interface HotStorageProcessorOptions {
  topic?: string;
  /** The checkpoint's name; one per processor reading the topic into this schema. Default 'hot'. */
  name?: string;
  /** Entries applied per transaction, at most. Default 16. */
  maxBatchEntries?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
  datasetOf: (name: string) => Dataset<unknown, unknown>;
  metrics?: Metrics;
  onError?: (error: unknown) => void;
}

interface Waiter {
  position: Position;
  resolve: () => void;
}

/**
 * Stage 2's hot side: reads the WAL from its checkpoint and applies each batch of entries in one
 * PostgreSQL transaction, together with the new checkpoint, so rows and checkpoint commit or
 * fail together. Application is idempotent (applyToHot), so a batch read again after a crash
 * changes nothing. While PostgreSQL is down the batch is retried with backoff and entries wait in
 * the log; every failure is reported through `onError` and `write_errors_total{tier="hot"}`.
 */
export class HotStorageProcessor {
  private readonly controller = new AbortController();
  private running: Promise<void> | undefined;
  private waiters: Waiter[] = [];
  /** The last position applied (and checkpointed) by this processor, or by an earlier run. */
  appliedThrough: Position | undefined;
  /** Rows inserted, changed or deleted since start. */
  rowsApplied = 0;

  constructor(
    private readonly hot: HotStore,
    private readonly log: Log,
    private readonly options: HotStorageProcessorOptions,
  ) {}

  private get metrics(): Metrics {
    return this.options.metrics ?? noopMetrics;
  }

  private get name(): string {
    return this.options.name ?? 'hot';
  }

  private get topic(): string {
    return this.options.topic ?? WAL_TOPIC;
  }

  start(): void {
    this.running ??= this.loop();
  }

  private async loop(): Promise<void> {
    const signal = this.controller.signal;
    let backoff = this.options.backoffMs ?? 100;
    while (!signal.aborted) {
      try {
        const checkpoint = await readCheckpoint(this.hot.pool, this.hot.schema, this.name);
        // The stored checkpoint is the truth, also when it is behind what this process applied:
        // an asynchronous commit lost in a PostgreSQL crash is applied again from here.
        this.appliedThrough = undefined;
        if (checkpoint) this.advance(checkpoint.position);
        const from = checkpoint ? { after: checkpoint.position } : ('earliest' as const);
        // Pipelined: the next batch is decoded while PostgreSQL applies the previous one; the
        // applies themselves stay strictly in order, each with its checkpoint. A failed apply
        // stops the reader at once, and the loop starts again from the checkpoint, which moved
        // only with the batches that committed.
        const reader = new AbortController();
        const stop = () => reader.abort();
        signal.addEventListener('abort', stop);
        // Stopped while the checkpoint was being read: the listener came too late to hear it.
        if (signal.aborted) reader.abort();
        let failure: { error: unknown } | undefined;
        let applying: Promise<void> = Promise.resolve();
        try {
          for await (const batch of this.log.read(this.topic, {
            from,
            signal: reader.signal,
            maxBatchEntries: this.options.maxBatchEntries ?? 16,
          })) {
            const entries = await this.decode(batch);
            await applying;
            if (failure) break;
            applying = this.applyEntries(batch, entries).then(
              () => {
                backoff = this.options.backoffMs ?? 100;
              },
              (error: unknown) => {
                failure ??= { error };
                reader.abort();
              },
            );
          }
        } catch (error) {
          if (!failure && !signal.aborted) throw error;
        } finally {
          signal.removeEventListener('abort', stop);
          await applying;
        }
        if (failure) throw failure.error;
      } catch (error) {
        if (signal.aborted) break;
        // No entry yet: the topic appears with the first append.
        if (!(error instanceof UnknownTopicError)) {
          this.options.onError?.(error);
          this.metrics.count(METRIC.writeErrors, { type: 'processor', tier: 'hot' });
        }
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(backoff * 2, this.options.maxBackoffMs ?? 5_000);
      }
    }
  }

  /** Decodes a batch, one entry per turn of the event loop, so writers sharing this thread keep their latency. */
  private async decode(batch: readonly LogEntry[]): Promise<HotEntry[]> {
    const entries: HotEntry[] = [];
    for (const e of batch) {
      entries.push(hotEntryOf(e, this.options.datasetOf));
      await yieldToEventLoop();
    }
    return entries;
  }

  /** Applies entries that follow the checkpoint, and the checkpoint with them, in one transaction. */
  async apply(batch: readonly LogEntry[]): Promise<void> {
    if (batch.length === 0) return;
    await this.applyEntries(batch, await this.decode(batch));
  }

  /**
   * One transaction: the rows and the checkpoint. It commits asynchronously
   * (`synchronous_commit = off`): the hot tier is derived from the WAL, which is durable already,
   * and the checkpoint commits or is lost together with the rows, so a crash of PostgreSQL that
   * loses the last commits only makes the processor apply those entries again.
   */
  private async applyEntries(batch: readonly LogEntry[], entries: readonly HotEntry[]): Promise<void> {
    if (batch.length === 0) return;
    const last = batch[batch.length - 1]!;
    const started = performance.now();
    let applied: number;
    try {
      applied = await inTransaction(this.hot.pool, async (client) => {
        await client.query('SET LOCAL synchronous_commit = off');
        const n = await applyToHot(
          client,
          this.hot.schema,
          entries,
          this.options.datasetOf,
          this.hot.strategy,
        );
        await saveCheckpoint(client, this.hot.schema, this.name, last.position);
        return n;
      });
    } catch (error) {
      throw toHotError(entries[0]!.table, error);
    }
    this.rowsApplied += applied;
    this.metrics.observe(METRIC.walApplyLatency, (performance.now() - started) / 1000, { tier: 'hot' });
    for (const e of entries)
      this.metrics.count(METRIC.recordsWritten, { repository: e.table, tier: 'hot' }, e.count);
    this.metrics.gauge(METRIC.walProcessorLagSeconds, Math.max(0, (Date.now() - last.timestamp) / 1000), {
      tier: 'hot',
    });
    this.advance(last.position);
  }

  private advance(position: Position): void {
    if (this.appliedThrough !== undefined && position <= this.appliedThrough) return;
    this.appliedThrough = position;
    const ready = this.waiters.filter((w) => w.position <= position);
    this.waiters = this.waiters.filter((w) => w.position > position);
    for (const w of ready) w.resolve();
  }

  /** Resolves once the entry at `position` is applied (for `ack: 'hot'`: read-your-writes). */
  waitApplied(position: Position): Promise<void> {
    if (this.appliedThrough !== undefined && this.appliedThrough >= position) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ position, resolve }));
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await this.running;
  }
}
