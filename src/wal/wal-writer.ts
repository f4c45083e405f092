import type { Dataset, StorageWriter, WriteOptions, WriteResult } from '../core/index.ts';
import { ConfigError, TierflowError, ValidationError } from '../core/index.ts';
import { prepareDelete, prepareUpsert } from '../hot/hot-only-writer.ts';
import type { PreparedBatch } from '../hot/upsert.ts';
import type { Log, Position } from '../log/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import { METRIC, noopMetrics } from '../observe/metrics.ts';
import type { ChangeOp } from '../core/index.ts';
import { encodeEvent } from '../events/data-written-event.ts';
import { eventHeaders } from '../events/event-headers.ts';
import { MAX_ROWS_PER_ENTRY as MAX_ENTRY_ROWS } from '../lake/position-map.ts';
import { WAL_TOPIC } from './wal-entry.ts';

type AnyDataset = Dataset<unknown, unknown>;

/**
 * `ack: 'hot'` gave up waiting: the entry IS durable in the WAL and will be applied when the hot
 * tier can take it; writing it again is harmless (same values, newer sequence) but not needed.
 */
export class HotAckTimeoutError extends TierflowError {
  constructor(
    readonly dataset: string,
    readonly position: Position,
    waitedMs: number,
  ) {
    super(
      'HOT_ACK_TIMEOUT',
      `${dataset}: WAL entry ${position} is durable but not applied to PostgreSQL after ${waitedMs} ms; it will be applied when the hot tier recovers`,
    );
  }
}

/**
 * When a write is acknowledged: 'wal' once its entry is durable in the log (either tier may be
 * down), 'hot' once the hot processor has applied it too (read-your-writes).
 */
export type WalAck = 'wal' | 'hot';

/** What `ack: 'hot'` waits on: the hot processor of this process. */
export interface HotApplied {
  /** Resolves once applied; rejects with the signal's reason when it aborts, forgetting the wait. */
  waitApplied(position: Position, signal?: AbortSignal): Promise<void>;
}

/**
 * Stage 2's writer: validate the whole batch, append it to the WAL as one entry, acknowledge.
 * Neither tier is touched here; the HotStorageProcessor and ColdStorageProcessor apply entries
 * from the log, each from its own checkpoint. A refused batch appends nothing.
 */
export class WalWriter implements StorageWriter {
  readonly kind = 'wal';
  private readonly metrics: Metrics;
  private readonly topic: string;

  constructor(
    private readonly log: Log,
    private readonly options: {
      ack?: WalAck;
      hotApplied?: HotApplied;
      topic?: string;
      origin?: string;
      /** How long `ack: 'hot'` waits for the hot processor before HotAckTimeoutError. Default 30 s. */
      hotAckTimeoutMs?: number;
      metrics?: Metrics;
    } = {},
  ) {
    this.metrics = options.metrics ?? noopMetrics;
    this.topic = options.topic ?? WAL_TOPIC;
    if (this.ack === 'hot' && !options.hotApplied)
      throw new ConfigError(`ack 'hot' needs the hot processor of this process (options.hotApplied)`);
  }

  get ack(): WalAck {
    return this.options.ack ?? 'wal';
  }

  upsert(dataset: AnyDataset, rows: readonly unknown[], options?: WriteOptions): Promise<WriteResult> {
    return this.write(dataset, 'u', () => prepareUpsert(dataset, rows, options), options);
  }

  delete(
    dataset: AnyDataset,
    keys: readonly Readonly<Record<string, unknown>>[],
    options?: WriteOptions,
  ): Promise<WriteResult> {
    return this.write(dataset, 'd', () => prepareDelete(dataset, keys, options), options);
  }

  private async write(
    dataset: AnyDataset,
    op: ChangeOp,
    prepare: () => PreparedBatch,
    options?: WriteOptions,
  ): Promise<WriteResult> {
    options?.signal?.throwIfAborted();
    let batch: PreparedBatch;
    try {
      batch = prepare();
    } catch (error) {
      this.metrics.count(METRIC.writeErrors, { type: 'validation', tier: 'wal' });
      throw error;
    }
    const rows = batch.rows as Record<string, unknown>[];
    if (rows.length === 0) return { dataset: dataset.name, rows: 0, applied: 0 };
    if (rows.length > MAX_ENTRY_ROWS)
      throw new ValidationError(
        dataset.name,
        MAX_ENTRY_ROWS,
        '(batch)',
        `a WAL entry holds at most ${MAX_ENTRY_ROWS} rows; split the batch`,
      );
    const writtenAt = new Date().toISOString();
    const now = `${writtenAt.slice(0, 23)}000Z`;
    const payload = encodeEvent(
      {
        dataset: dataset.name,
        schemaVersion: dataset.version,
        op,
        rows,
        eventTimes: rows.map((r) => (r[dataset.eventTime] as string | undefined) ?? now),
        writtenAt,
        origin: this.options.origin ?? 'wal',
      },
      dataset,
    );
    let position: Position;
    try {
      [position] = (await this.log.append(this.topic, [
        { key: dataset.name, headers: eventHeaders({ rows: rows.length }), payload },
      ])) as [Position];
    } catch (error) {
      this.metrics.count(METRIC.writeErrors, { type: 'append', tier: 'wal' });
      throw error;
    }
    this.metrics.count(METRIC.recordsWritten, { repository: dataset.name, tier: 'wal' }, rows.length);
    if (this.ack === 'hot') await this.waitHot(dataset.name, position);
    return { dataset: dataset.name, rows: rows.length, applied: rows.length };
  }

  private async waitHot(dataset: string, position: Position): Promise<void> {
    const ms = this.options.hotAckTimeoutMs ?? 30_000;
    const timeout = new AbortController();
    // On timeout the waiter is removed from the processor, so months of slow acks leave nothing behind.
    const timer = setTimeout(() => timeout.abort(new HotAckTimeoutError(dataset, position, ms)), ms);
    try {
      await this.options.hotApplied!.waitApplied(position, timeout.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    // The log belongs to whoever opened it.
  }
}
