import type { PipelineState } from '../core/index.ts';
import type { GroupMembership, Log, Position } from '../log/log.ts';
import { offsetOf } from '../log/partition-position.ts';
import { RejectedEntryError } from '../events/rejected-entry.ts';
import { PartitionNotOwnedError } from '../log/errors.ts';
import { topicPartitions } from '../log/log.ts';
import { METRIC, noopMetrics } from '../observe/metrics.ts';
import type { BreakerState } from './breaker.ts';
import type { ColdStorageConsumerOptions } from './cold-storage-consumer.ts';
import { ColdStorageConsumer } from './cold-storage-consumer.ts';
import type { EventSink } from './event-sink.ts';

/** The lake sink of one partition: its own lake scope, which one process holds at a time. */
export type PartitionSink = EventSink & { close(): Promise<void> };

export interface PartitionedColdConsumerOptions extends ColdStorageConsumerOptions {
  /**
   * Opens partition `p`'s sink; rejects with DirectoryLockedError while another process still
   * holds that partition's lake scope (the member it was taken from has not let go yet).
   */
  openSink(partition: number): Promise<PartitionSink>;
  /** How long the group waits for a silent member (a kill -9) before giving its partitions away. */
  sessionTimeoutMs?: number;
}

interface Running {
  consumer: ColdStorageConsumer;
  sink: PartitionSink;
}

const BREAKER_ORDER: BreakerState[] = ['closed', 'half-open', 'open'];
/** How often superseded commit receipts behind the whole group are cleared. */
const EXPIRE_EVERY_MS = 60_000;

/**
 * Stage 1's cold side on a topic of several partitions: a member of the cold consumer group that
 * runs one ColdStorageConsumer per partition the group gives it, each reading its partition and
 * writing its own lake scope, and commits through the member. When the group takes a partition
 * away (another member joined) its consumer writes what it buffered, commits, and closes its
 * scope, which the new owner is waiting to open; when a member dies, the group gives its
 * partitions to the others after the session timeout, and the dead process's scope locks, whose
 * owner is gone, are taken over. The lake skips what it already holds per scope, so a partition
 * read again from an older commit doubles no row.
 */
export class PartitionedColdConsumer {
  private membership: GroupMembership | undefined;
  private readonly running = new Map<number, Running>();
  private readonly starting = new Map<number, Promise<void>>();
  private wanted: readonly number[] = [];
  private changes: Promise<void> = Promise.resolve();
  private joining: Promise<void> | undefined;
  private stopped = false;
  private failure: string | undefined;
  private finishedRows = 0;
  private lagSeconds = 0;
  private unregister: (() => void) | undefined;
  private expiry: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Log,
    private readonly options: PartitionedColdConsumerOptions,
  ) {}

  private get group(): string {
    return this.options.group ?? 'cold-storage';
  }

  private get pipeline(): string {
    return this.options.pipeline ?? 'cold-consumer';
  }

  private get metrics() {
    return this.options.metrics ?? noopMetrics;
  }

  /** The partitions this process writes now. */
  partitions(): number[] {
    return [...this.running.keys()].sort((a, b) => a - b);
  }

  /** Rows committed to the lake by this process since it started, over every partition it held. */
  get rowsCommitted(): number {
    let rows = this.finishedRows;
    for (const { consumer } of this.running.values()) rows += consumer.rowsCommitted;
    return rows;
  }

  /** The worst state of the partitions' cold breakers. */
  get coldBreaker(): { readonly state: BreakerState } {
    let worst: BreakerState = 'closed';
    for (const { consumer } of this.running.values())
      if (BREAKER_ORDER.indexOf(consumer.coldBreaker.state) > BREAKER_ORDER.indexOf(worst))
        worst = consumer.coldBreaker.state;
    return { state: worst };
  }

  state(): PipelineState {
    const failing = [...this.running.values()].map((r) => r.consumer.state().failing).find(Boolean);
    return {
      name: this.pipeline,
      failing: this.failure ?? failing,
      lagSeconds: this.lagSeconds,
      active: this.membership !== undefined && !this.stopped,
    };
  }

  start(): void {
    if (this.joining) return;
    this.joining = this.join().catch((error: unknown) => this.report(error));
    this.unregister = this.metrics.onScrape(() => this.refreshLag());
    if (this.options.commits?.expireBefore)
      this.expiry = setInterval(() => {
        this.expireSuperseded().catch((error: unknown) => this.report(error));
      }, EXPIRE_EVERY_MS);
  }

  /**
   * Clears the commit receipts the whole group is past: those older than the oldest log time any
   * partition's commit stands at. A partition with nothing after its commit (caught up, or empty
   * and never committed) holds nothing back; one with entries and no commit holds everything.
   */
  async expireSuperseded(): Promise<void> {
    const commits = this.options.commits;
    if (!commits?.expireBefore || !(await this.log.topics()).includes(this.options.topic)) return;
    let oldest = Date.now();
    const partitions = await topicPartitions(this.log, this.options.topic);
    for (let partition = 0; partition < partitions; partition++) {
      const committed = await this.log.committed(this.group, this.options.topic, partition);
      const next = await this.firstAfter(partition, committed);
      if (next === undefined) continue;
      if (committed === undefined) return;
      oldest = Math.min(oldest, next);
    }
    await commits.expireBefore(oldest);
  }

  /** The log time of the first entry of `partition` after `after` (from its start if undefined). */
  private async firstAfter(partition: number, after: Position | undefined): Promise<number | undefined> {
    for await (const batch of this.log.read(this.options.topic, {
      from: after === undefined ? 'earliest' : { after },
      follow: false,
      partition,
      maxBatchEntries: 1,
      maxBatchBytes: 64 * 1024,
    }))
      if (batch[0]) return batch[0].timestamp;
    return undefined;
  }

  /** The group's backlog (entries after its commits, over every partition) and the oldest wait of ours. */
  async refreshLag(maxAgeMs = 0): Promise<void> {
    const consumers = [...this.running.values()].map((r) => r.consumer);
    await Promise.all(consumers.map((c) => c.refreshLag(maxAgeMs)));
    this.lagSeconds = Math.max(0, ...consumers.map((c) => c.state().lagSeconds));
    this.metrics.gauge(METRIC.coldLag, this.lagSeconds);
    if ((await this.log.topics()).includes(this.options.topic))
      this.metrics.gauge(METRIC.coldBacklog, await this.log.lag(this.group, this.options.topic));
  }

  /** Joins the group, trying again with backoff while the log cannot be reached. */
  private async join(): Promise<void> {
    if (!this.log.joinGroup) {
      this.report(new Error(`the ${this.log.backend} log has no consumer groups with members`));
      return;
    }
    let backoff = 200;
    while (!this.stopped) {
      try {
        const membership = await this.log.joinGroup(this.group, this.options.topic, {
          sessionTimeoutMs: this.options.sessionTimeoutMs,
        });
        if (this.stopped) {
          await membership.close();
          return;
        }
        this.membership = membership;
        this.failure = undefined;
        membership.onAssignment((partitions) => this.assign(partitions));
        this.assign(membership.owned());
        return;
      } catch (error) {
        this.report(error);
        await pause(backoff);
        backoff = Math.min(backoff * 2, 5_000);
      }
    }
  }

  private report(error: unknown): void {
    this.failure = error instanceof Error ? error.message : String(error);
    this.options.onError?.(error);
  }

  private assign(partitions: readonly number[]): void {
    this.wanted = partitions;
    this.changes = this.changes.then(() => this.reconcile()).catch((error: unknown) => this.report(error));
  }

  /** Stops the partitions taken away (written, committed, scope closed), then starts the new ones. */
  private async reconcile(): Promise<void> {
    const wanted = new Set(this.stopped ? [] : this.wanted);
    for (const [partition, running] of [...this.running]) {
      if (wanted.has(partition)) continue;
      this.running.delete(partition);
      try {
        await this.release(running);
      } catch (error) {
        // Its scope could not be closed: reported; the other partitions go on being reconciled.
        this.report(error);
      }
    }
    for (const partition of wanted) {
      if (this.running.has(partition) || this.starting.has(partition)) continue;
      const start = this.startPartition(partition).finally(() => {
        this.starting.delete(partition);
        // Taken away and given back while it opened: look again.
        if (!this.stopped && this.wanted.includes(partition) && !this.running.has(partition))
          this.assign(this.wanted);
      });
      this.starting.set(partition, start);
    }
  }

  private async release({ consumer, sink }: Running): Promise<void> {
    try {
      // Writes and commits what it buffered. The group has usually moved the partition already, so
      // the commit is refused: the new owner reads those entries again and the lake skips them.
      await consumer.stop();
    } catch (error) {
      if (!(error instanceof PartitionNotOwnedError)) this.report(error);
    } finally {
      this.finishedRows += consumer.rowsCommitted;
      await sink.close();
    }
  }

  /** Opens the partition's sink, waiting while its previous owner still holds the scope. */
  private async startPartition(partition: number): Promise<void> {
    let backoff = 100;
    const since = Date.now();
    const patience = this.options.sessionTimeoutMs ?? 10_000;
    while (!this.stopped && this.wanted.includes(partition)) {
      let sink: PartitionSink;
      try {
        sink = offsetsOnly(await this.options.openSink(partition));
      } catch (error) {
        // The scope's previous owner has not let go yet (its lock, possibly from the lake's worker
        // thread, where the class is not kept): waited for, and reported once it takes longer than
        // a member takes to be given up; anything else is reported at once.
        const locked = (error as { code?: string }).code === 'DIRECTORY_LOCKED';
        if (!locked || Date.now() - since > 2 * patience)
          this.report(
            locked
              ? new Error(`partition ${partition} waits for its lake scope: ${(error as Error).message}`)
              : error,
          );
        await pause(backoff);
        backoff = Math.min(backoff * 2, 2_000);
        continue;
      }
      if (this.stopped || !this.wanted.includes(partition) || !this.membership) {
        await sink.close();
        return;
      }
      const commits = this.options.commits;
      const consumer = new ColdStorageConsumer(this.log, sink, {
        ...this.options,
        // A transaction's event is split over partitions, and each part must find its receipt:
        // no partition clears receipts; they expire by the whole group's progress (expireSuperseded
        // below, through expireBefore), never by one partition's.
        commits: commits && { resolve: (x) => commits.resolve(x), forget: () => Promise.resolve() },
        partition,
        membership: this.membership,
        pipeline: `${this.pipeline}[${partition}]`,
      });
      this.running.set(partition, { consumer, sink });
      consumer.start();
      this.failure = undefined;
      return;
    }
  }

  /** Leaves the group after writing and committing every partition it holds. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unregister?.();
    if (this.expiry) clearInterval(this.expiry);
    await this.joining;
    await Promise.allSettled([...this.starting.values()]);
    this.assign([]);
    await this.changes;
    await this.membership?.close();
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A partition's scope numbers its rows by the partition's own offsets (the lake cannot number
 * positions with the partition above bit 48): the sink gets offsets, and an entry it rejects is
 * named again by its position in the log, which the consumer dead-letters.
 */
function offsetsOnly(sink: PartitionSink): PartitionSink {
  return {
    async write(events) {
      try {
        await sink.write(events.map((e) => ({ ...e, position: offsetOf(e.position) })));
      } catch (error) {
        const original =
          error instanceof RejectedEntryError
            ? events.find((e) => offsetOf(e.position) === error.position)
            : undefined;
        if (original && error instanceof RejectedEntryError)
          throw new RejectedEntryError(original.position, error.reasonCode, error.message, error);
        throw error;
      }
    },
    close: () => sink.close(),
  };
}
