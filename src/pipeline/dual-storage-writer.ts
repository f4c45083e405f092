import type { Dataset } from '../core/index.ts';
import { HotConnectionError } from '../core/index.ts';
import type { HotStore } from '../hot/hot-store.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { BreakerOptions } from './breaker.ts';
import { Breaker } from './breaker.ts';
import type { AlsoInTransaction } from '../hot/hot-store.ts';
import { HotOnlyWriter } from '../hot/hot-only-writer.ts';
import type { PreparedBatch } from '../hot/upsert.ts';
import { encodeEvent } from './data-written-event.ts';
import { insertOutbox } from './outbox.ts';

type AnyDataset = Dataset<unknown, unknown>;

/**
 * Stage 1: every write goes to PostgreSQL as before, and its DataWrittenEvent is inserted into
 * the transactional outbox in the same transaction. The caller waits for the hot commit only;
 * the OutboxRelay moves events to the log and the ColdStorageConsumer to the lake. A write that
 * fails commits no event; a write that commits has its event, even if the process dies the next
 * instant.
 */
export class DualStorageWriter extends HotOnlyWriter {
  override readonly kind = 'dual-write';
  /**
   * Opens when PostgreSQL stops answering: writes then fail fast with CircuitOpenError instead of
   * each waiting for a connection timeout, and publish nothing. Only connection failures count;
   * a refused row is the caller's problem, not an outage.
   */
  readonly hotBreaker: Breaker;

  constructor(hot: HotStore, options: { metrics?: Metrics; breaker?: BreakerOptions } = {}) {
    super(hot, options);
    this.hotBreaker = new Breaker('hot', {
      counts: (error) => error instanceof HotConnectionError,
      metrics: options.metrics,
      ...options.breaker,
    });
  }

  protected override runHot<T>(work: () => Promise<T>): Promise<T> {
    return this.hotBreaker.execute(work);
  }

  protected override alsoInTransaction(
    dataset: AnyDataset,
    batch: PreparedBatch,
    op: 'upsert' | 'delete',
  ): AlsoInTransaction {
    const schema = this.hot.schema;
    const rows = batch.rows as Record<string, unknown>[];
    const writtenAt = new Date().toISOString();
    // A delete whose key lacks the event time happens "now": its tombstone lands in today's partition.
    const now = `${writtenAt.slice(0, 23)}000Z`;
    // Encoded before the transaction begins, so the rows' locks are not held while it runs.
    const payload = encodeEvent(
      {
        dataset: dataset.name,
        schemaVersion: dataset.version,
        op,
        rows,
        eventTimes: rows.map((r) => (r[dataset.eventTime] as string | undefined) ?? now),
        writtenAt,
      },
      dataset.eventTime,
    );
    return (client) => insertOutbox(client, schema, dataset.name, payload);
  }
}
