import type { Dataset, StorageWriter, WriteOptions, WriteResult } from '../core/index.ts';
import { normaliseFields, validatorFor } from '../core/index.ts';
import type { Metrics } from '../observe/metrics.ts';
import { METRIC, noopMetrics } from '../observe/metrics.ts';
import type { AlsoInTransaction, HotStore } from './hot-store.ts';
import type { PreparedBatch } from './upsert.ts';
import { preparedBatch } from './upsert.ts';

type AnyDataset = Dataset<unknown, unknown>;

/** Validates a batch: what every writer does before any tier sees it. */
export function prepareUpsert(dataset: AnyDataset, rows: readonly unknown[], options: WriteOptions = {}) {
  const normalised = validatorFor(dataset)(rows) as Record<string, unknown>[];
  return preparedBatch(normalised, options.sequences);
}

export function prepareDelete(
  dataset: AnyDataset,
  keys: readonly Readonly<Record<string, unknown>>[],
  options: WriteOptions = {},
) {
  const normalised = keys.map((key, rowIndex) => {
    const onlyKey = Object.fromEntries(dataset.primaryKey.map((k) => [k, key[k]]));
    return normaliseFields(dataset, onlyKey, { rowIndex, required: dataset.primaryKey });
  });
  return preparedBatch(normalised, options.sequences);
}

/** Stage 0: writes go to PostgreSQL only. The reference the other writers are measured against. */
export class HotOnlyWriter implements StorageWriter {
  readonly kind: string = 'hot-only';
  protected readonly metrics: Metrics;

  constructor(
    protected readonly hot: HotStore,
    options: { metrics?: Metrics } = {},
  ) {
    this.metrics = options.metrics ?? noopMetrics;
  }

  /** Runs the hot transaction; a subclass may guard it (stage 1: a circuit breaker). */
  protected runHot<T>(work: () => Promise<T>): Promise<T> {
    return work();
  }

  /** What a subclass writes in the same transaction as the rows (stage 1: the outbox event). */
  protected alsoInTransaction(
    _dataset: AnyDataset,
    _batch: PreparedBatch,
    _op: 'u' | 'd',
  ): AlsoInTransaction | undefined {
    return undefined;
  }

  async upsert(dataset: AnyDataset, rows: readonly unknown[], options?: WriteOptions): Promise<WriteResult> {
    options?.signal?.throwIfAborted();
    const batch = this.countValidation(() => prepareUpsert(dataset, rows, options));
    const applied = await this.runHot(() =>
      this.hot.upsert(dataset, batch, this.alsoInTransaction(dataset, batch, 'u')),
    );
    this.metrics.count(METRIC.recordsWritten, { repository: dataset.name, tier: 'hot' }, batch.rows.length);
    return { dataset: dataset.name, rows: batch.rows.length, applied };
  }

  async delete(
    dataset: AnyDataset,
    keys: readonly Readonly<Record<string, unknown>>[],
    options?: WriteOptions,
  ): Promise<WriteResult> {
    options?.signal?.throwIfAborted();
    const batch = this.countValidation(() => prepareDelete(dataset, keys, options));
    const applied = await this.runHot(() =>
      this.hot.delete(dataset, batch, this.alsoInTransaction(dataset, batch, 'd')),
    );
    return { dataset: dataset.name, rows: batch.rows.length, applied };
  }

  async close(): Promise<void> {
    // Owns no resources: the pool belongs to whoever created the HotStore.
  }

  private countValidation<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      this.metrics.count(METRIC.writeErrors, { type: 'validation', tier: 'hot' });
      throw error;
    }
  }
}
