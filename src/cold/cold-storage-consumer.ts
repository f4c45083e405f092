import type { PipelineState } from '../core/index.ts';
import { FailureState, Throttled, TierflowError } from '../core/index.ts';
import { DeadLetters } from '../events/dead-letters.ts';
import { RejectedEntryError } from '../events/rejected-entry.ts';
import { PartitionNotOwnedError, UnknownTopicError } from '../log/errors.ts';
import type { GroupMembership, Log, LogEntry, Position } from '../log/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import { METRIC, noopMetrics } from '../observe/metrics.ts';
import type { BreakerOptions } from './breaker.ts';
import { Breaker } from './breaker.ts';
import { readEventHeaders } from '../events/event-headers.ts';
import type { EventSink, EventToWrite } from './event-sink.ts';
import { pendingSince } from './pending-since.ts';

/** What PostgreSQL says of the transaction an event was appended in. */
export type CommitStatus = 'committed' | 'aborted' | 'pending';

/** How the consumer learns whether the hot transaction behind an event committed (commit-receipts.ts). */
export interface CommitResolver {
  resolve(xids: readonly string[]): Promise<Map<string, CommitStatus>>;
  /** The events of these transactions are in the lake (or passed over by the group). */
  forget(xids: readonly string[]): Promise<void>;
  /** The group has committed through an event logged at this time (ms since the epoch). */
  expireSuperseded?(committedLoggedAt: number): Promise<void>;
  /** Clears every receipt the whole group is past (events split over partitions: see expireBefore). */
  expireBefore?(committedLoggedAt: number): Promise<void>;
}

/**
 * Rows per lake commit under sustained load. Measured with `npm run bench -- dual` (one writer,
 * about 75,000 rows/s): at 10,000 rows the consumer commits 7 or 8 times a second, and each commit's
 * file and manifest fsyncs and Parquet CPU run beside the writer, which kept it at 0.72–0.77 ×
 * hot-only over seven runs; 50,000 gave 0.77–0.81 over six and lake files five times larger;
 * 100,000 gave 0.76–0.79, and a last batch that took long to drain. Below the size, `maxBatchMs`
 * bounds the wait (and so the cold lag at lower rates).
 */
export const DEFAULT_MAX_BATCH_ROWS = 50_000;
export const DEFAULT_MAX_BATCH_MS = 1_000;

export interface ColdStorageConsumerOptions {
  topic: string;
  group?: string;
  /** The name it reports under (/health, dead letters, metrics). Default 'cold-consumer'. */
  pipeline?: string;
  /** Write to the lake once this many rows are buffered (default DEFAULT_MAX_BATCH_ROWS)… */
  maxBatchRows?: number;
  /** …or once the oldest buffered row has waited this long (default 1 s). */
  maxBatchMs?: number;
  /** Between attempts to write a failing batch, doubling up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Needed when writers append events inside their transactions (they carry an `xid` header). */
  commits?: CommitResolver;
  metrics?: Metrics;
  onError?: (error: unknown) => void;
  breaker?: BreakerOptions;
  /**
   * One partition of a topic of several (partitioned-cold-consumer.ts): read only it, and commit
   * through `membership`, the group member that owns it.
   */
  partition?: number;
  membership?: GroupMembership;
}

export class CommitUnverifiableError extends TierflowError {
  constructor(position: Position) {
    super(
      'COMMIT_UNVERIFIABLE',
      `event ${position} was appended inside a hot transaction, and this consumer has no way to check that it committed (pass options.commits)`,
    );
  }
}

export class CommitPendingError extends TierflowError {
  constructor(xid: string, waitedMs: number) {
    super(
      'COMMIT_PENDING',
      `hot transaction ${xid} has been in progress for ${Math.round(waitedMs)} ms since its event was logged; the cold tier waits for it (idle_in_transaction_session_timeout bounds this)`,
      { retriable: true },
    );
  }
}

interface Buffered extends EventToWrite {
  /** The entry as read, for the dead-letter topic. */
  entry: LogEntry;
  rows: number;
  xid: string | undefined;
  /** The log's timestamp of the entry. */
  loggedAt: number;
}

/** How long a pending transaction is waited for before it is reported (and waited for still). */
const PENDING_REPORT_MS = 10_000;

/**
 * Stage 1's cold side: a consumer group on the event topic that batches events by size and time,
 * keeps only those whose hot transaction committed, hands them to the sink (decode + lake write),
 * and commits its log position only after the lake commit. A failing lake write is retried with
 * backoff behind the cold breaker while events wait in the log; nothing is dropped but events of
 * transactions that rolled back.
 */
export class ColdStorageConsumer {
  private readonly group: string;
  private buffer: Buffered[] = [];
  private bufferedRows = 0;
  private oldestBuffered: number | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly controller = new AbortController();
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  /** Receipts to clear whose clearing failed; tried again with the next batch. */
  private toForget: string[] = [];
  /** The last entry taken into the buffer, flushed or not. */
  private lastAdded: Position | undefined;
  private readonly deadLetters: DeadLetters;
  /** A read failure clears once the log answers again; a write failure once a batch is in the lake. */
  private readonly trouble = new FailureState();
  private lagSeconds = 0;
  private readonly lag = new Throttled(() => this.measureLag());
  private unregister: (() => void) | undefined;
  /** Rows committed to the lake by this consumer since it started. */
  rowsCommitted = 0;
  /** Opens when the lake keeps failing; events then wait in the log until a probe succeeds. */
  readonly coldBreaker: Breaker;

  constructor(
    private readonly log: Log,
    private readonly sink: EventSink,
    private readonly options: ColdStorageConsumerOptions,
  ) {
    this.group = options.group ?? 'cold-storage';
    // An entry the lake can never take says nothing about the lake: it does not open the breaker.
    this.coldBreaker = new Breaker('cold', {
      metrics: options.metrics,
      counts: (error) => !(error instanceof RejectedEntryError),
      ...options.breaker,
    });
    this.deadLetters = new DeadLetters(log, this.metrics);
  }

  private get pipeline(): string {
    return this.options.pipeline ?? 'cold-consumer';
  }

  /** How the consumer is doing, as /health reports it. */
  state(): PipelineState {
    return {
      name: this.pipeline,
      failing: this.trouble.failing,
      lagSeconds: this.lagSeconds,
      active: this.running !== undefined && !this.trouble.stopped,
    };
  }

  /**
   * The lag gauge, as of now: the age of the oldest event not yet in the lake (the log's time of
   * the first entry after the group's commit), however long ago the last batch was written.
   */
  refreshLag(maxAgeMs = 0): Promise<void> {
    return this.lag.run(maxAgeMs);
  }

  private async measureLag(): Promise<void> {
    // No event yet: the topic appears with the first one, and nothing waits.
    const exists = (await this.log.topics()).includes(this.options.topic);
    const committed = exists ? await this.committedPosition() : undefined;
    const pending = exists
      ? await pendingSince(this.log, this.options.topic, committed, this.options.partition)
      : { entries: 0, ageSeconds: 0 };
    this.lagSeconds = pending.ageSeconds;
    // One partition's consumer: the group's gauges are its supervisor's (partitioned-cold-consumer.ts).
    if (this.options.partition !== undefined) return;
    this.metrics.gauge(METRIC.coldLag, pending.ageSeconds);
    this.metrics.gauge(METRIC.coldBacklog, pending.entries);
  }

  /** A failure a retry may mend: reported, and shown by state() until that kind of work succeeds again. */
  private failed(error: unknown, kind: 'read' | 'write'): void {
    if (this.trouble.fail(error, kind === 'write')) this.options.onError?.(error);
  }

  private recovered(kind: 'read' | 'write'): void {
    this.trouble.recover(kind === 'write');
  }

  /** An error no retry can help (a misconfiguration, a corrupt manifest): stop, and say so until restarted. */
  private stopFor(error: TierflowError): void {
    if (!this.trouble.stop(error)) return;
    this.options.onError?.(error);
    this.metrics.count(METRIC.pipelineStopped, { pipeline: this.pipeline });
    if (this.timer) clearInterval(this.timer);
    this.controller.abort();
  }

  private committedPosition(): Promise<Position | undefined> {
    return this.log.committed(this.group, this.options.topic, this.options.partition);
  }

  private get metrics(): Metrics {
    return this.options.metrics ?? noopMetrics;
  }

  start(): void {
    if (this.running) return;
    this.unregister = this.metrics.onScrape(() => this.refreshLag());
    const maxMs = this.options.maxBatchMs ?? DEFAULT_MAX_BATCH_MS;
    this.timer = setInterval(
      () => {
        if (this.oldestBuffered !== undefined && Date.now() - this.oldestBuffered >= maxMs)
          // A failure was reported by flushNow already; the batch waits in the log.
          this.flush().catch(() => undefined);
      },
      Math.max(10, Math.floor(maxMs / 4)),
    );
    this.running = this.consume();
  }

  private async consume(): Promise<void> {
    const signal = this.controller.signal;
    while (!signal.aborted) {
      try {
        // After a failed read, on from what is buffered already, not from the group's commit.
        // Asked every time round, also when resuming after what is buffered: the answer shows the
        // log is back after a failed read, though no new event may come for a while.
        const committed = await this.committedPosition();
        this.recovered('read');
        const after = this.lastAdded ?? committed;
        const from = after === undefined ? ('earliest' as const) : { after };
        const partition = this.options.partition;
        for await (const batch of this.log.read(this.options.topic, { from, signal, partition })) {
          this.recovered('read');
          for (const entry of batch) this.add(entry);
          if (this.bufferedRows >= (this.options.maxBatchRows ?? DEFAULT_MAX_BATCH_ROWS)) await this.flush();
        }
      } catch (error) {
        // Stopping aborts the read: not a failure.
        if (signal.aborted) break;
        if (error instanceof TierflowError && !error.retriable && !(error instanceof UnknownTopicError)) {
          this.stopFor(error);
          break;
        }
        if (!(error instanceof UnknownTopicError)) this.failed(error, 'read');
        // No event yet (the topic appears with the first one), or a read failed: try again soon.
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  private add(entry: LogEntry): void {
    const headers = readEventHeaders(entry);
    if (headers.xid !== undefined && !this.options.commits) throw new CommitUnverifiableError(entry.position);
    // Events from before row counts were carried count as one row for batching.
    const rows = headers.rows ?? 1;
    this.buffer.push({
      entry,
      position: entry.position,
      payload: entry.payload,
      rows,
      xid: headers.xid,
      loggedAt: entry.timestamp,
    });
    this.lastAdded = entry.position;
    this.bufferedRows += rows;
    this.oldestBuffered ??= Date.now();
    this.metrics.gauge(METRIC.coldBufferedRows, this.bufferedRows);
  }

  /** Writes everything buffered to the lake, then commits the log position. Serialised. */
  flush(): Promise<void> {
    // One failed flush (only when stopping) must not fail the flushes queued behind it.
    this.flushing = this.flushing.catch(() => undefined).then(() => this.flushNow());
    return this.flushing;
  }

  private async flushNow(): Promise<void> {
    let batch = this.buffer;
    if (batch.length === 0) return;
    const position = batch[batch.length - 1]!.position;
    this.buffer = [];
    this.bufferedRows = 0;
    this.metrics.gauge(METRIC.coldBufferedRows, 0);
    this.oldestBuffered = undefined;
    let backoff = this.options.backoffMs ?? 100;
    let counted = false;
    for (;;) {
      try {
        const committed = await this.committedOnly(batch);
        await this.coldBreaker.execute(() => this.sink.write(committed));
        // Counted before the group commit, so whoever sees the group caught up sees these rows
        // too; once, though a failed group commit sends the batch round again.
        if (!counted) for (const event of committed) this.rowsCommitted += event.rows;
        counted = true;
        // The receipts of events now in the lake are cleared before the group commit, so no crash
        // can leave them behind: one that comes between the two reads these events again, finds
        // their transactions committed in PostgreSQL's commit log, and the lake skips them.
        await this.options.commits?.forget(xidsOf(committed));
        await (this.options.membership
          ? this.options.membership.commit(position)
          : this.log.commit(this.group, this.options.topic, position));
        const kept = new Set(committed);
        const discarded = batch.filter((e) => !kept.has(e));
        if (discarded.length > 0)
          this.metrics.count(METRIC.eventsDiscarded, { reason: 'rolled_back' }, discarded.length);
        this.recovered('write');
        await this.refreshLag().catch((error: unknown) => this.options.onError?.(error));
        // A superseded receipt must outlive the group commit: read again without it, its event's
        // ghost copy would count as committed.
        await this.forgetLater(discarded, batch[batch.length - 1]!.loggedAt);
        return;
      } catch (error) {
        // The group gave this partition to another member while the batch went to the lake: the
        // batch is written, and its new owner reads it again from the group's commit and finds it
        // there. Nothing failed.
        if (error instanceof PartitionNotOwnedError) return;
        const rejected = error instanceof RejectedEntryError ? error : undefined;
        const bad = rejected && batch.find((e) => e.position === rejected.position);
        if (bad) {
          // The entry can never be written: it goes to the dead-letter topic, the rest at once.
          await this.deadLetter(bad, rejected);
          batch = batch.filter((e) => e !== bad);
          if (bad.xid !== undefined) this.toForget.push(bad.xid);
          continue;
        }
        // Not the entry's fault and no retry can help: the batch waits in the log, the consumer stops.
        if (error instanceof TierflowError && !error.retriable && !rejected) {
          this.stopFor(error);
          throw error;
        }
        this.failed(error, 'write');
        // Stopping gives up on the batch: it was not committed, so it waits in the log for the next start.
        if (this.stopping) throw error;
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(backoff * 2, this.options.maxBackoffMs ?? 5_000);
      }
    }
  }

  /**
   * The events of the batch whose hot transaction committed, in order. Transactions still in
   * progress (appended, COMMIT not yet done) are waited for: a later event must not reach the
   * lake before an earlier one, since the lake skips positions at or below its last.
   */
  private async committedOnly(batch: readonly Buffered[]): Promise<Buffered[]> {
    const xids = [...new Set(xidsOf(batch))];
    if (xids.length === 0) return [...batch];
    const known = new Map<string, CommitStatus>();
    let unresolved = xids;
    const started = performance.now();
    let reported = false;
    for (let wait = 2; ; wait = Math.min(wait * 2, 100)) {
      const statuses = await this.options.commits!.resolve(unresolved);
      for (const [xid, status] of statuses) if (status !== 'pending') known.set(xid, status);
      unresolved = unresolved.filter((xid) => !known.has(xid));
      if (unresolved.length === 0) break;
      const waited = performance.now() - started;
      // Stopping gives up waiting: the batch stays in the log for the next start.
      if (this.stopping) throw new CommitPendingError(unresolved[0]!, waited);
      if (!reported && waited > PENDING_REPORT_MS) {
        reported = true;
        this.options.onError?.(new CommitPendingError(unresolved[0]!, waited));
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    return batch.filter((e) => e.xid === undefined || known.get(e.xid) === 'committed');
  }

  /**
   * Once the group is past them: clears the receipts of discarded events, and the superseded
   * receipts whose ghost copies lie behind the group. A failure is reported and the clearing
   * retried with the next batch.
   */
  private async forgetLater(discarded: readonly Buffered[], committedLoggedAt: number): Promise<void> {
    const commits = this.options.commits;
    if (!commits) return;
    const xids = [...this.toForget, ...xidsOf(discarded)];
    try {
      await commits.forget(xids);
      this.toForget = [];
      await commits.expireSuperseded?.(committedLoggedAt);
    } catch (error) {
      this.toForget = xids;
      this.options.onError?.(error);
    }
  }

  /** Retried with backoff until the dead-letter topic takes it: the batch behind it must not pass it by. */
  private async deadLetter(bad: Buffered, rejected: RejectedEntryError): Promise<void> {
    let backoff = this.options.backoffMs ?? 100;
    for (;;) {
      try {
        await this.deadLetters.send(this.pipeline, bad.entry, rejected);
        this.options.onError?.(rejected);
        return;
      } catch (error) {
        this.failed(error, 'write');
        if (this.stopping) throw error;
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(backoff * 2, this.options.maxBackoffMs ?? 5_000);
      }
    }
  }

  /** Stops reading, writes what is buffered, commits, and returns. */
  async stop(): Promise<void> {
    this.unregister?.();
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.controller.abort();
    await this.running;
    await this.flush();
  }
}

function xidsOf(events: readonly Buffered[]): string[] {
  return events.flatMap((e) => (e.xid === undefined ? [] : [e.xid]));
}
