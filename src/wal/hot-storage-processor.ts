import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Dataset, PipelineState, TierflowError } from '../core/index.ts';
import { FailureState, HotConnectionError, Throttled } from '../core/index.ts';
import { DeadLetters } from '../events/dead-letters.ts';
import { RejectedEntryError } from '../events/rejected-entry.ts';
import type { HotStore } from '../hot/hot-store.ts';
import type { HeldLease, LeaseOptions } from '../hot/lease.ts';
import { PgLease } from '../hot/lease.ts';
import { isConnectionFailure, toHotError } from '../hot/pg-errors.ts';
import { inTransaction } from '../hot/transaction.ts';
import { UnknownTopicError } from '../log/errors.ts';
import type { Log, LogEntry, Position } from '../log/log.ts';
import { topicExtent } from '../log/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import { METRIC, noopMetrics } from '../observe/metrics.ts';
import type { HotEntry } from './apply-to-hot.ts';
import { applyToHot, hotEntryOf } from './apply-to-hot.ts';
import {
  CheckpointMovedError,
  WalBehindCheckpointError,
  advanceCheckpoint,
  readCheckpoint,
} from './checkpoints.ts';
import { readRejections, recordRejections } from './rejections.ts';
import { verifyCheckpointLog } from './verify-checkpoint-log.ts';
import { isEntryLevelHotError, stopsTheProcessor } from './entry-level-error.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { pendingSince } from '../cold/pending-since.ts';
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
  /** The lease that makes one processor per schema and name apply, wherever tierflow runs. */
  lease?: LeaseOptions;
  /** While another process applies: how often this one reads the checkpoint (for `ack: 'hot'`). Default 25 ms. */
  followMs?: number;
}

interface Waiter {
  position: Position;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** Positions dead-lettered lately, remembered for `ack: 'hot'` waiters that arrive after the fact. */
const REMEMBERED_REJECTIONS = 1_000;

/** How often a standby checks that the checkpoint it follows was made from its own log. */
const VERIFY_EVERY_MS = 5_000;

/**
 * Backends whose positions number entries one by one, so a gap after the checkpoint means entries
 * were lost: the file log, NATS, Redis (dense stream IDs), Kafka (offsets: tierflow writes no
 * transactions and its topics are not compacted).
 */
const CONTIGUOUS = new Set(['file', 'nats', 'redis', 'kafka']);

/** Not a failure of this processor: the lease moved, or this processor was stopped. */
class Interrupted extends Error {}

/**
 * Stage 2's hot side: reads the WAL from its checkpoint and applies each batch of entries in one
 * PostgreSQL transaction, together with the new checkpoint, so rows and checkpoint commit or
 * fail together. Application is idempotent (applyToHot), so a batch read again after a crash
 * changes nothing.
 *
 * Many processes may run one: a PostgreSQL advisory lock (PgLease) lets one apply at a time and
 * hands over when it dies; the others follow the checkpoint, so `ack: 'hot'` works in every
 * process. The checkpoint moves only from where the transaction's reader started
 * (advanceCheckpoint), which fences an owner that lost its lease without knowing yet.
 *
 * Failures: a retriable one (PostgreSQL down) is retried with backoff while entries wait in the
 * log; an entry that can never be applied goes to the dead-letter topic and the processor moves
 * on; any other error stops the processor, loudly (`pipeline_stopped_total`, `state().failing`).
 */
export class HotStorageProcessor {
  private readonly controller = new AbortController();
  private running: Promise<void> | undefined;
  private waiters: Waiter[] = [];
  private readonly lease: PgLease;
  private readonly deadLetters: DeadLetters;
  private verifiedAt = 0;
  private readonly lag = new Throttled(() => this.measureLag());
  /** Aborted when the processor stops for good: a standby stops trying for the lease too. */
  private readonly halted = new AbortController();
  /** A connection failure clears once a round trip to PostgreSQL succeeds, an apply failure once a batch applies. */
  private readonly trouble = new FailureState();
  private readonly rejected = new Map<Position, RejectedEntryError>();
  private active = false;
  private unregister: (() => void) | undefined;
  private lagSeconds = 0;
  /** The last position applied (and checkpointed), by this processor or another one. */
  appliedThrough: Position | undefined;
  /** Whether this process is reading the log to apply it now (it owns the lease and passed its checks). */
  following = false;
  /** Rows inserted, changed or deleted by this process since start. */
  rowsApplied = 0;

  constructor(
    private readonly hot: HotStore,
    private readonly log: Log,
    private readonly options: HotStorageProcessorOptions,
  ) {
    this.lease = new PgLease(hot.pool.options, `hot-processor:${hot.schema}:${this.name}`, {
      ...options.lease,
      // PostgreSQL down while taking or holding the lease is the processor failing, as when applying.
      onError: (error) => this.failed(error, 'processor'),
      onContact: () => this.recovered('connection'),
    });
    this.deadLetters = new DeadLetters(log, this.metrics);
  }

  private get metrics(): Metrics {
    return this.options.metrics ?? noopMetrics;
  }

  /** The checkpoint's name (options.name, default 'hot'). */
  get name(): string {
    return this.options.name ?? 'hot';
  }

  private get topic(): string {
    return this.options.topic ?? WAL_TOPIC;
  }

  start(): void {
    if (this.running) return;
    this.unregister = this.metrics.onScrape(() => this.refreshLag());
    this.metrics.gauge(METRIC.processorActive, 0, { tier: 'hot' });
    this.running = this.loop();
  }

  /** How the processor is doing, as /health reports it. */
  state(): PipelineState {
    return {
      name: 'hot-processor',
      failing: this.trouble.failing,
      lagSeconds: this.lagSeconds,
      active: this.active,
    };
  }

  private async loop(): Promise<void> {
    const signal = this.controller.signal;
    while (!signal.aborted && !this.trouble.stopped) {
      let held: HeldLease;
      try {
        held = await this.lease.acquire(AbortSignal.any([signal, this.halted.signal]), () => this.follow());
      } catch (error) {
        if (signal.aborted || this.trouble.stopped) break;
        throw error;
      }
      this.setActive(true);
      try {
        await this.whileOwner(held.lost);
      } finally {
        this.setActive(false);
        await held.release();
        // What failed while applying is the owner's to report; a standby reports its own trouble.
        this.trouble.dropDeep();
      }
    }
  }

  private setActive(active: boolean): void {
    this.active = active;
    this.metrics.gauge(METRIC.processorActive, active ? 1 : 0, { tier: 'hot' });
  }

  /** Applies the log while this process holds the lease; returns when it is lost, stopped or fails for good. */
  private async whileOwner(lost: AbortSignal): Promise<void> {
    const signal = AbortSignal.any([this.controller.signal, lost]);
    let backoff = this.options.backoffMs ?? 100;
    while (!signal.aborted) {
      try {
        await this.applyFromCheckpoint(signal, () => {
          backoff = this.options.backoffMs ?? 100;
          this.recovered('apply');
        });
      } catch (error) {
        if (signal.aborted || error instanceof Interrupted) return;
        if (error instanceof UnknownTopicError) {
          // No entry yet: the topic appears with the first append.
        } else if (stopsTheProcessor(error)) {
          this.stop_(error as TierflowError);
          return;
        } else {
          this.failed(error, error instanceof CheckpointMovedError ? 'fenced' : 'processor');
        }
        await sleep(backoff, undefined, { signal }).catch(() => undefined); // aborted: the loop ends
        backoff = Math.min(backoff * 2, this.options.maxBackoffMs ?? 5_000);
      }
    }
  }

  /** A failure that a retry may mend: reported, counted, and shown by state() until an attempt succeeds. */
  private failed(error: unknown, type: string): void {
    const connection = isConnectionFailure(error) || error instanceof HotConnectionError;
    if (!this.trouble.fail(error, !connection)) return;
    this.options.onError?.(error);
    this.metrics.count(METRIC.writeErrors, { type, tier: 'hot' });
  }

  /** Something of `kind` succeeded: a failure of that kind (or a lesser one) is over. */
  private recovered(kind: 'connection' | 'apply'): void {
    this.trouble.recover(kind === 'apply');
  }

  /** An error no retry can help: the processor stops, and says so until restarted. */
  private stop_(error: TierflowError): void {
    if (!this.trouble.stop(error)) return;
    this.halted.abort(error);
    // Nothing this process waits for will be applied by it now: writers learn why at once.
    for (const w of this.waiters) w.reject(error);
    this.waiters = [];
    this.options.onError?.(error);
    this.metrics.count(METRIC.pipelineStopped, { pipeline: 'hot-processor' });
  }

  /**
   * One pass: from the stored checkpoint (the truth, also when it is behind what this process
   * applied: an asynchronous commit lost in a PostgreSQL crash is applied again from there) until
   * an error. Pipelined: the next batch is decoded while PostgreSQL applies the previous one; the
   * applies stay strictly in order, each with its checkpoint.
   */
  private async applyFromCheckpoint(signal: AbortSignal, onApplied: () => void): Promise<void> {
    const checkpoint = await readCheckpoint(this.hot.pool, this.hot.schema, this.name);
    this.recovered('connection');
    if (checkpoint) await verifyCheckpointLog(this.log, this.topic, checkpoint);
    this.appliedThrough = undefined;
    if (checkpoint) this.advance(checkpoint.position);
    let at = checkpoint?.position;
    const contiguous = CONTIGUOUS.has(this.log.backend);
    if (contiguous && at !== undefined) {
      // An empty topic says nothing: retention may have dropped everything up to the checkpoint.
      const { last } = await topicExtent(this.log, this.topic);
      if (last !== undefined && last < at) throw new WalBehindCheckpointError(this.topic, at, last);
    }
    const reader = new AbortController();
    const stop = () => reader.abort();
    signal.addEventListener('abort', stop);
    if (signal.aborted) reader.abort();
    let failure: { error: unknown } | undefined;
    let applying: Promise<void> = Promise.resolve();
    try {
      this.following = true;
      for await (const batch of this.log.read(this.topic, {
        from: at === undefined ? 'earliest' : { after: at },
        signal: reader.signal,
        maxBatchEntries: this.options.maxBatchEntries ?? 16,
      })) {
        const first = batch[0]!.position;
        if (contiguous && at !== undefined && first !== at + 1n)
          throw new WalBehindCheckpointError(this.topic, at, undefined, first);
        const entries = await this.decode(batch);
        await applying;
        if (failure) break;
        const from = at;
        at = batch[batch.length - 1]!.position;
        applying = this.applyBatch(from, batch, entries).then(onApplied, (error: unknown) => {
          failure ??= { error };
          reader.abort();
        });
      }
    } catch (error) {
      if (!failure && !signal.aborted) throw error;
    } finally {
      this.following = false;
      signal.removeEventListener('abort', stop);
      await applying;
    }
    if (failure) throw failure.error;
    if (signal.aborted) throw new Interrupted();
  }

  /** Decodes a batch, one entry per turn of the event loop, so writers sharing this thread keep their latency. */
  private async decode(batch: readonly LogEntry[]): Promise<(HotEntry | RejectedEntryError)[]> {
    const entries: (HotEntry | RejectedEntryError)[] = [];
    for (const e of batch) {
      try {
        entries.push(hotEntryOf(e, this.options.datasetOf));
      } catch (error) {
        const rejected = RejectedEntryError.of(e.position, error);
        if (!rejected) throw error;
        entries.push(rejected);
      }
      await yieldToEventLoop();
    }
    return entries;
  }

  /**
   * Applies a batch that follows the checkpoint at `from`. Entries that cannot be decoded are
   * dead-lettered first; if PostgreSQL refuses the batch for what is in it (a value out of a
   * column's range, a constraint), each entry is applied alone so that only the one at fault is
   * dead-lettered.
   */
  private async applyBatch(
    from: Position | undefined,
    batch: readonly LogEntry[],
    entries: readonly (HotEntry | RejectedEntryError)[],
  ): Promise<void> {
    for (const [i, e] of entries.entries())
      if (e instanceof RejectedEntryError) await this.deadLetter(batch[i]!, e);
    const good = entries.filter((e): e is HotEntry => !(e instanceof RejectedEntryError));
    const last = batch[batch.length - 1]!;
    const rejected = entries.filter((e): e is RejectedEntryError => e instanceof RejectedEntryError);
    try {
      await this.applyEntries(from, last, good, rejected);
    } catch (error) {
      if (!isEntryLevelHotError(error)) throw error;
      if (good.length === 1 && batch.length === 1) {
        const rejection = RejectedEntryError.for(last.position, error);
        await this.deadLetter(last, rejection);
        await this.applyEntries(from, last, [], [rejection]);
        return;
      }
      let at = from;
      for (const [i, entry] of batch.entries()) {
        const one = entries[i]!;
        // Dead-lettered above already: only the checkpoint moves past it.
        if (one instanceof RejectedEntryError) await this.applyEntries(at, entry, [], [one]);
        else await this.applyBatch(at, [entry], [one]);
        at = entry.position;
      }
    }
  }

  /** Puts an entry on the dead-letter topic; an `ack: 'hot'` writer waiting for it learns it was not applied. */
  private async deadLetter(entry: LogEntry, rejection: RejectedEntryError): Promise<void> {
    await this.deadLetters.send('hot-processor', entry, rejection);
    this.rejected.set(entry.position, rejection);
    if (this.rejected.size > REMEMBERED_REJECTIONS) this.rejected.delete(this.rejected.keys().next().value!);
    for (const w of this.waiters.filter((w) => w.position === entry.position)) w.reject(rejection);
    this.waiters = this.waiters.filter((w) => w.position !== entry.position);
  }

  /**
   * One transaction: the checkpoint moves from `from` to `last` (first, so a processor fenced out
   * waits on the row and fails before writing anything), then the rows. It commits asynchronously
   * (`synchronous_commit = off`): the hot tier is derived from the WAL, which is durable already,
   * and a crash of PostgreSQL that loses the last commits only makes the processor apply those
   * entries again.
   */
  private async applyEntries(
    from: Position | undefined,
    last: LogEntry,
    entries: readonly HotEntry[],
    /** Entries of the range dead-lettered instead: recorded with the checkpoint, for waiters elsewhere. */
    rejected: readonly RejectedEntryError[] = [],
  ): Promise<void> {
    const started = performance.now();
    let applied: number;
    try {
      applied = await inTransaction(this.hot.pool, async (client) => {
        await client.query('SET LOCAL synchronous_commit = off');
        await advanceCheckpoint(client, this.hot.schema, this.name, from, {
          position: last.position,
          loggedAt: last.timestamp,
        });
        await recordRejections(client, this.hot.schema, this.name, rejected);
        return applyToHot(client, this.hot.schema, entries, this.options.datasetOf, this.hot.strategy);
      });
    } catch (error) {
      throw toHotError(entries[0]?.table ?? 'wal', error);
    }
    this.rowsApplied += applied;
    this.metrics.observe(METRIC.walApplyLatency, (performance.now() - started) / 1000, { tier: 'hot' });
    for (const e of entries)
      this.metrics.count(METRIC.recordsWritten, { repository: e.table, tier: 'hot' }, e.count);
    this.advance(last.position);
  }

  /** While another process applies: moves with the stored checkpoint, so `ack: 'hot'` waiters here resolve. */
  private async follow(): Promise<void> {
    const until = Date.now() + (this.options.lease?.retryMs ?? 500);
    do {
      try {
        const checkpoint = await readCheckpoint(this.hot.pool, this.hot.schema, this.name);
        this.recovered('connection');
        if (checkpoint) {
          if (Date.now() - this.verifiedAt >= VERIFY_EVERY_MS) {
            await verifyCheckpointLog(this.log, this.topic, checkpoint);
            this.verifiedAt = Date.now();
          }
          await this.rejectPassedOver(checkpoint.position);
          this.advance(checkpoint.position);
        }
      } catch (error) {
        if (stopsTheProcessor(error)) this.stop_(error as TierflowError);
        else this.failed(error, 'processor');
        return;
      }
      if (this.waiters.length === 0) return;
      await new Promise((resolve) => setTimeout(resolve, this.options.followMs ?? 25));
    } while (Date.now() < until && !this.controller.signal.aborted);
  }

  /** Resolves if the entry at `position`, which the checkpoint has passed, was applied; rejects if it was dead-lettered. */
  private async passedOver(position: Position): Promise<void> {
    const reasons = await readRejections(this.hot.pool, this.hot.schema, this.name, [position]);
    const reason = reasons.get(position);
    if (reason !== undefined) throw new RejectedEntryError(position, 'DEAD_LETTERED', reason);
  }

  /** Waiters for entries the owner moved past without applying them are told so, before the others are answered. */
  private async rejectPassedOver(through: Position): Promise<void> {
    const passed = this.waiters.filter((w) => w.position <= through).map((w) => w.position);
    const reasons = await readRejections(this.hot.pool, this.hot.schema, this.name, passed);
    if (reasons.size === 0) return;
    for (const w of this.waiters.filter((w) => reasons.has(w.position)))
      w.reject(new RejectedEntryError(w.position, 'DEAD_LETTERED', reasons.get(w.position)!));
    this.waiters = this.waiters.filter((w) => !reasons.has(w.position));
  }

  /** The lag gauges and state().lagSeconds, as of now: entries after the checkpoint, and the age of the first of them. */
  refreshLag(maxAgeMs = 0): Promise<void> {
    return this.lag.run(maxAgeMs);
  }

  private async measureLag(): Promise<void> {
    const checkpoint = await readCheckpoint(this.hot.pool, this.hot.schema, this.name);
    const pending = await pendingSince(this.log, this.topic, checkpoint?.position);
    this.lagSeconds = pending.ageSeconds;
    this.metrics.gauge(METRIC.walProcessorLagEntries, pending.entries, { tier: 'hot' });
    this.metrics.gauge(METRIC.walProcessorLagSeconds, pending.ageSeconds, { tier: 'hot' });
    if (checkpoint)
      this.metrics.gauge(METRIC.walCheckpointAge, (Date.now() - checkpoint.updatedAt.getTime()) / 1000, {
        tier: 'hot',
      });
  }

  private advance(position: Position): void {
    if (this.appliedThrough !== undefined && position <= this.appliedThrough) return;
    this.appliedThrough = position;
    const ready = this.waiters.filter((w) => w.position <= position);
    this.waiters = this.waiters.filter((w) => w.position > position);
    for (const w of ready) w.resolve();
  }

  /**
   * Resolves once the entry at `position` is applied (for `ack: 'hot'`: read-your-writes), by
   * whichever process holds the lease. Rejects with the signal's reason when it aborts, and
   * forgets the waiter then.
   */
  waitApplied(position: Position, signal?: AbortSignal): Promise<void> {
    const rejected = this.rejected.get(position);
    if (rejected) return Promise.reject(rejected);
    if (this.appliedThrough !== undefined && this.appliedThrough >= position)
      // Passed already; whether applied or dead-lettered, only the owner knows here.
      return this.active ? Promise.resolve() : this.passedOver(position);
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        position,
        resolve: () => {
          signal?.removeEventListener('abort', abort);
          resolve();
        },
        reject: (error) => {
          signal?.removeEventListener('abort', abort);
          reject(error);
        },
      };
      const abort = () => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(signal!.reason as Error);
      };
      signal?.addEventListener('abort', abort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Waiters for `ack: 'hot'` not yet answered (a gauge of stuck writers; 0 when idle). */
  get waiting(): number {
    return this.waiters.length;
  }

  async stop(): Promise<void> {
    this.controller.abort();
    this.unregister?.();
    await this.running;
  }
}
