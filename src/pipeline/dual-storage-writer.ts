import type { PoolClient } from 'pg';
import type { Dataset } from '../core/index.ts';
import { HotConnectionError, ValidationError } from '../core/index.ts';
import type { HotStore } from '../hot/hot-store.ts';
import type { Log, LogEntryInput } from '../log/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import { METRIC } from '../observe/metrics.ts';
import type { BreakerOptions } from '../cold/breaker.ts';
import { Breaker } from '../cold/breaker.ts';
import type { AlsoInTransaction } from '../hot/hot-store.ts';
import { HotOnlyWriter } from '../hot/hot-only-writer.ts';
import type { PreparedBatch } from '../hot/upsert.ts';
import { fastPathBegin, insertReceipt, supersedeReceipt } from './commit-receipts.ts';
import { encodeEvent } from '../events/data-written-event.ts';
import { eventHeaders } from '../events/event-headers.ts';
import { insertOutbox } from './outbox.ts';
import { MAX_ROWS_PER_ENTRY as MAX_EVENT_ROWS } from '../lake/position-map.ts';
import { EVENT_TOPIC } from '../events/topics.ts';
import { routeEvent } from '../events/event-routing.ts';

type AnyDataset = Dataset<unknown, unknown>;

/** What the writer needs of a log: appending, durably. */
export type EventAppender = Pick<Log, 'append'>;

/** A transaction on the fast path: the log it appends to, and its id once BEGIN has answered. */
interface FastPath {
  log: EventAppender;
  /** The event topic's partitions: more than one, and an event goes out split by row key. */
  partitions: number;
  xid: string | undefined;
}

/**
 * Stage 1: every write goes to PostgreSQL as before, and its DataWrittenEvent goes on towards the
 * lake; the caller waits for the hot commit only, never for the cold tier.
 *
 * Fast path (a log attached with publishTo): the hot transaction takes the relay lock (shared)
 * and its id with BEGIN; after the rows are locked, the event is appended to the log, tagged with
 * that id, while a commit receipt is inserted; then COMMIT. The cold consumer writes an event
 * only once its transaction has committed (commit-receipts.ts), so a write that fails never
 * reaches the lake, and a write that is acknowledged has its event durable in the log already.
 *
 * Fallback (no log attached, the log failing or its breaker open, or older events still queued):
 * the event is inserted into the transactional outbox in the same transaction, and the
 * OutboxRelay carries it to the log later.
 */
export class DualStorageWriter extends HotOnlyWriter {
  override readonly kind = 'dual-write';
  /**
   * Opens when PostgreSQL stops answering: writes then fail fast with CircuitOpenError instead of
   * each waiting for a connection timeout, and publish nothing. Only connection failures count;
   * a refused row is the caller's problem, not an outage.
   */
  readonly hotBreaker: Breaker;
  /** Opens when the log keeps refusing appends: events then go to the outbox without trying. */
  readonly logBreaker: Breaker;
  private readonly topic: string;
  private eventLog: { log: EventAppender; partitions: number } | undefined;
  /** Until then, writes take the outbox without trying the fast path: older events wait there. */
  private outboxBusyUntil = 0;
  private readonly outboxBusyMs: number;
  private readonly onError: ((error: unknown) => void) | undefined;

  constructor(
    hot: HotStore,
    options: {
      metrics?: Metrics;
      breaker?: BreakerOptions;
      logBreaker?: BreakerOptions;
      /**
       * After a write found older events waiting in the outbox, later writes go straight to the
       * outbox for this long (default 500 ms), instead of each appending a copy that cannot
       * count until the relay has caught up.
       */
      outboxBusyMs?: number;
      topic?: string;
      /** Told about every failed append (the event then went to the outbox instead). */
      onError?: (error: unknown) => void;
    } = {},
  ) {
    super(hot, options);
    this.topic = options.topic ?? EVENT_TOPIC;
    this.onError = options.onError;
    this.hotBreaker = new Breaker('hot', {
      counts: (error) => error instanceof HotConnectionError,
      metrics: options.metrics,
      ...options.breaker,
    });
    this.logBreaker = new Breaker('event-log', { metrics: options.metrics, ...options.logBreaker });
    this.outboxBusyMs = options.outboxBusyMs ?? 500;
  }

  /**
   * Appends events straight to `log` from now on; undefined sends them through the outbox again
   * (before the log closes, for instance). Transactions under way finish on the path they began.
   * On an event topic of several `partitions`, each event is split by its rows' keys
   * (events/event-routing.ts); the outbox keeps whole events, which its relay splits.
   */
  publishTo(log: EventAppender | undefined, options: { partitions?: number } = {}): void {
    this.eventLog = log ? { log, partitions: options.partitions ?? 1 } : undefined;
  }

  protected override runHot<T>(work: () => Promise<T>): Promise<T> {
    return this.hotBreaker.execute(work);
  }

  protected override alsoInTransaction(
    dataset: AnyDataset,
    batch: PreparedBatch,
    op: 'u' | 'd',
  ): AlsoInTransaction {
    const rows = batch.rows as Record<string, unknown>[];
    // A row's lake position is its event's position × 2^20 + its index: more would collide.
    if (rows.length > MAX_EVENT_ROWS)
      throw new ValidationError(
        dataset.name,
        MAX_EVENT_ROWS,
        '(batch)',
        `an event holds at most ${MAX_EVENT_ROWS} rows; split the batch`,
      );
    const writtenAt = new Date().toISOString();
    // A delete whose key lacks the event time happens "now": its tombstone lands in today's partition.
    const now = `${writtenAt.slice(0, 23)}000Z`;
    const encode = (of: readonly Record<string, unknown>[]) =>
      encodeEvent(
        {
          dataset: dataset.name,
          schemaVersion: dataset.version,
          op,
          rows: of as Record<string, unknown>[],
          eventTimes: of.map((r) => (r[dataset.eventTime] as string | undefined) ?? now),
          writtenAt,
        },
        dataset,
      );
    // The path is chosen before BEGIN. The fast path's transaction takes the relay lock (shared)
    // and its id with BEGIN, so its event can be appended while its receipt is inserted.
    const target = this.eventLog;
    const fast: FastPath | undefined =
      target && this.logBreaker.admits() && Date.now() >= this.outboxBusyUntil
        ? { ...target, xid: undefined }
        : undefined;
    const begin: Pick<AlsoInTransaction, 'begin' | 'begun'> = fast
      ? {
          begin: fastPathBegin(this.hot.schema),
          begun: (row) => {
            fast.xid = row?.xid as string | undefined;
          },
        }
      : {};
    if (op === 'd')
      // Only the keys the delete removed: a key it did not find (say, inserted by a transaction
      // still open) must not become a tombstone that outlives that row in the lake.
      return {
        ...begin,
        run: async (client, deleted = []) => {
          if (deleted.length > 0) await this.publish(client, dataset, deleted.length, encode(deleted), fast);
        },
      };
    let payload: Uint8Array | undefined;
    return {
      ...begin,
      // Encoded while PostgreSQL applies the rows, when this thread would otherwise wait. A
      // failure here is left for `run`, which encodes again and fails the transaction with it.
      whileApplying: () => {
        try {
          payload ??= encode(rows);
        } catch {
          payload = undefined;
        }
      },
      run: (client) => this.publish(client, dataset, rows.length, (payload ??= encode(rows)), fast),
    };
  }

  /**
   * Inside the hot transaction, after the rows: on the fast path, the event to the log and its
   * receipt at once; to the outbox when there is no fast path, when the append fails, or when
   * older events still wait in the outbox.
   */
  private async publish(
    client: PoolClient,
    dataset: AnyDataset,
    rows: number,
    payload: Uint8Array,
    fast: FastPath | undefined,
  ): Promise<void> {
    const schema = this.hot.schema;
    if (fast?.xid !== undefined) {
      const { log, xid } = fast;
      const started = performance.now();
      // Routed before the breaker: an event that cannot be split is no log outage (it then takes
      // the outbox, whose relay sends it whole for the consumer to dead-letter).
      const entries = routedEntries(payload, dataset, rows, xid, fast.partitions);
      const [receipt, append] = await Promise.allSettled([
        insertReceipt(client, schema, xid),
        entries instanceof Error
          ? Promise.reject(entries)
          : this.logBreaker.execute(() => log.append(this.topic, entries)),
      ]);
      if (append.status === 'rejected') {
        this.metrics.count(METRIC.eventsPublished, { result: 'error' });
        this.onError?.(append.reason);
      }
      // The transaction fails with it: a copy appended meanwhile belongs to a transaction that aborts.
      if (receipt.status === 'rejected') throw receipt.reason;
      const superseded = receipt.value;
      if (superseded) this.outboxBusyUntil = Date.now() + this.outboxBusyMs;
      if (append.status === 'fulfilled') {
        this.metrics.observe(METRIC.eventPublishLatency, (performance.now() - started) / 1000);
        if (!superseded) {
          this.metrics.count(METRIC.eventsPublished, { result: 'ok' });
          return;
        }
        // Older events wait in the outbox: the receipt says superseded, so this copy never counts.
      } else if (!superseded) await supersedeReceipt(client, schema);
    }
    await insertOutbox(client, schema, dataset.name, payload, rows);
    this.metrics.count(METRIC.eventsPublished, { result: 'outbox' });
  }
}

/** The log entries of an event: whole on one partition, split by row key on several. */
function routedEntries(
  payload: Uint8Array,
  dataset: AnyDataset,
  rows: number,
  xid: string,
  partitions: number,
): LogEntryInput[] | Error {
  if (partitions <= 1) return [{ key: dataset.name, headers: eventHeaders({ rows, xid }), payload }];
  try {
    return routeEvent(payload, () => dataset, partitions).map((part) => ({
      key: part.key,
      partition: part.partition,
      headers: eventHeaders({ rows: part.rows, xid }),
      payload: part.payload,
    }));
  } catch (error) {
    return error as Error;
  }
}
