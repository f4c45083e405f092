import type pg from 'pg';
import type { Log, LogEntryInput } from '../log/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import { METRIC, noopMetrics } from '../observe/metrics.ts';
import { ident, qualified } from '../hot/sql.ts';
import { inTransaction } from '../hot/transaction.ts';
import { routeEvent } from '../events/event-routing.ts';
import { decodeEvent } from '../events/data-written-event.ts';
import { findDataset } from '../datasets/index.ts';
import { eventHeaders } from '../events/event-headers.ts';
import { OUTBOX_TABLE, outboxChannel, relayLock } from './outbox.ts';

/** How long a relay waits for the relay lock before it leaves the batch for its next try. */
const RELAY_LOCK_WAIT_MS = 200;
const LOCK_NOT_AVAILABLE = '55P03';

/** The relay lock was not free within RELAY_LOCK_WAIT_MS (fast-path transactions were open). */
class RelayBusy extends Error {}

export interface OutboxRelayOptions {
  topic: string;
  /** The topic's partitions: more than one, and each event goes out split by row key. Default 1. */
  partitions?: number;
  /** Events moved per transaction. Default 500. */
  batchSize?: number;
  /** Poll even without a notification this often (a missed NOTIFY, a restart). Default 1 s. */
  pollMs?: number;
  /** Delay after a failure before the next attempt; doubles up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
  metrics?: Metrics;
  onError?: (error: unknown) => void;
}

/**
 * Moves committed outbox events to the log: in one transaction it takes the schema's relay lock,
 * reads the oldest events, appends them, waits for the log's durable acknowledgement and only
 * then deletes them. The lock makes relays of one schema take turns (several `tierflow serve`
 * processes, for failover): two relays appending two batches at once could put a newer event of
 * a key in the log before an older one. It also waits for the fast-path transactions that are
 * open (they hold it shared) and holds new ones back while a batch moves. A crash between the
 * append and the delete sends those events again: delivery is at least once, and the cold side
 * is idempotent. While the log is down, events wait in the outbox, which is durable; the relay
 * retries with backoff and reports every failure through `onError` and
 * `events_published_total{result="error"}`.
 */
export class OutboxRelay {
  private readonly table: string;
  private running: Promise<void> | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  private notified = false;
  private listener: pg.PoolClient | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
    private readonly log: Pick<Log, 'append'>,
    private readonly options: OutboxRelayOptions,
  ) {
    this.table = qualified(schema, OUTBOX_TABLE);
  }

  private get metrics(): Metrics {
    return this.options.metrics ?? noopMetrics;
  }

  /** Moves one batch; returns how many events it moved (0 when the outbox is empty). */
  async drainOnce(): Promise<number> {
    try {
      return await inTransaction(this.pool, async (client) => {
        // The lock waits for open fast-path transactions and holds new ones back, so an empty
        // outbox is not worth it: polled every second, it would stall the writers each time.
        const { rows: waiting } = await client.query<{ any: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM ${this.table}) AS any`,
        );
        if (!waiting[0]!.any) return 0;
        // Held until this transaction ends: the next relay reads the outbox after these are gone.
        // Waited for RELAY_LOCK_WAIT_MS at most: while the relay waits, new fast-path
        // transactions queue behind it, so one of them stuck on a row lock must not hold up
        // every writer of the schema. Busy: the events wait in the outbox for the next try.
        try {
          await client.query(
            `SET LOCAL lock_timeout = ${RELAY_LOCK_WAIT_MS}; SELECT ${relayLock(this.schema, 'exclusive')}; SET LOCAL lock_timeout = 0`,
          );
        } catch (error) {
          if ((error as { code?: string }).code === LOCK_NOT_AVAILABLE) throw new RelayBusy();
          throw error;
        }
        const { rows } = await client.query<{ id: bigint; dataset: string; payload: Buffer; rows: number }>(
          `SELECT id, dataset, payload, rows FROM ${this.table} ORDER BY id LIMIT $1`,
          [this.options.batchSize ?? 500],
        );
        if (rows.length === 0) return 0;
        const started = performance.now();
        const partitions = this.options.partitions ?? 1;
        await this.log.append(
          this.options.topic,
          rows.flatMap((r): LogEntryInput[] =>
            partitions > 1 && routable(r.payload)
              ? // Split by row key, as the writers' fast path does (events/event-routing.ts).
                routeEvent(r.payload, findDataset, partitions).map((part) => ({
                  key: part.key,
                  partition: part.partition,
                  headers: eventHeaders({ rows: part.rows, outboxId: String(r.id) }),
                  payload: part.payload,
                }))
              : // One partition, or an event that cannot be decoded here: sent whole, so the cold
                // consumer dead-letters it with its reason instead of it blocking the outbox.
                [
                  {
                    key: r.dataset,
                    headers: eventHeaders({ rows: r.rows, outboxId: String(r.id) }),
                    payload: r.payload,
                  },
                ],
          ),
        );
        this.metrics.observe(METRIC.eventPublishLatency, (performance.now() - started) / 1000);
        await client.query(`DELETE FROM ${this.table} WHERE id = ANY($1::bigint[])`, [rows.map((r) => r.id)]);
        this.metrics.count(METRIC.eventsPublished, { result: 'ok' }, rows.length);
        return rows.length;
      });
    } catch (error) {
      if (error instanceof RelayBusy) {
        this.metrics.count(METRIC.outboxRelayBusy);
        return 0;
      }
      this.metrics.count(METRIC.eventsPublished, { result: 'error' });
      throw error;
    }
  }

  /** Moves everything in the outbox now. */
  async drain(): Promise<number> {
    let moved = 0;
    for (let n = await this.drainOnce(); n > 0; n = await this.drainOnce()) moved += n;
    return moved;
  }

  /** Events waiting in the outbox. */
  async backlog(): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${this.table}`);
    return rows[0]!.n;
  }

  /** Runs until stop(): drains on every notification and every `pollMs`. */
  start(): void {
    if (this.running) return;
    this.running = this.loop();
  }

  private async loop(): Promise<void> {
    const pollMs = this.options.pollMs ?? 1_000;
    let backoff = this.options.backoffMs ?? 100;
    while (!this.stopped) {
      try {
        await this.listen();
        await this.drain();
        backoff = this.options.backoffMs ?? 100;
        await this.sleep(pollMs);
      } catch (error) {
        this.options.onError?.(error);
        await this.dropListener();
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, this.options.maxBackoffMs ?? 5_000);
      }
    }
  }

  private async listen(): Promise<void> {
    if (this.listener) return;
    const client = await this.pool.connect();
    client.on('notification', () => {
      // Kept until the next sleep when it comes during a drain, which may have read the outbox
      // before the notifying transaction committed.
      this.notified = true;
      this.wake?.();
    });
    client.on('error', () => void this.dropListener());
    await client.query(`LISTEN ${ident(outboxChannel(this.schema))}`);
    this.listener = client;
  }

  private async dropListener(): Promise<void> {
    const client = this.listener;
    this.listener = undefined;
    client?.release(true);
  }

  /** True while the running relay waits for a notification or its next poll, with nothing to do. */
  get sleeping(): boolean {
    return this.wake !== undefined;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.notified || this.stopped) {
        this.notified = false;
        resolve();
        return;
      }
      const done = () => {
        this.notified = false;
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
    await this.dropListener();
  }
}

/** Whether the relay can decode the event to split it. */
function routable(payload: Uint8Array): boolean {
  try {
    decodeEvent(payload, findDataset);
    return true;
  } catch {
    return false; // the event travels whole; the consumer reports why it cannot be decoded
  }
}
