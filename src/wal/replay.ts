import type { Dataset } from '../core/index.ts';
import type { HotStore } from '../hot/hot-store.ts';
import { inTransaction } from '../hot/transaction.ts';
import type { Log, LogEntry, Position, ReadFrom } from '../log/log.ts';
import { topicExtent } from '../log/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import { METRIC, noopMetrics } from '../observe/metrics.ts';
import type { EventSink } from '../cold/event-sink.ts';
import { applyToHot, hotEntryOf } from './apply-to-hot.ts';
import { WAL_TOPIC } from './wal-entry.ts';

export interface ReplayOptions {
  log: Log;
  topic?: string;
  /** A WAL sequence (log position, inclusive), a time (entries the log took at or after it), or 'earliest'. */
  from: ReadFrom;
  /** Last sequence (inclusive), or a time (entries taken before it). Default: the end of the log now. */
  to?: Position | Date;
  /** Only these datasets (table names). Default: all. */
  datasets?: readonly string[];
  /** Re-apply to this hot store (sequence-guarded: idempotent). */
  hot?: HotStore;
  /** Re-apply to this lake (positions it holds are skipped: idempotent; an empty lake is rebuilt). */
  lake?: EventSink;
  datasetOf: (name: string) => Dataset<unknown, unknown>;
  maxBatchEntries?: number;
  metrics?: Metrics;
}

export interface ReplayResult {
  entries: number;
  rows: number;
  /** Rows the hot tier inserted, changed or deleted (0 when everything was there already). */
  hotApplied: number;
  first: Position | undefined;
  last: Position | undefined;
}

function beyond(entry: LogEntry, to: Position | Date | undefined): boolean {
  if (to === undefined) return false;
  return to instanceof Date ? entry.timestamp >= to.getTime() : entry.position > to;
}

/**
 * Re-applies a stretch of the WAL to the hot tier, the lake, or both, in log order, batch by batch.
 * Both paths are idempotent, so replaying what a tier holds already changes nothing, and
 * replaying everything into an empty schema and an empty lake reproduces both tiers.
 */
export async function replay(options: ReplayOptions): Promise<ReplayResult> {
  const metrics = options.metrics ?? noopMetrics;
  const only = options.datasets ? new Set(options.datasets) : undefined;
  const result: ReplayResult = { entries: 0, rows: 0, hotApplied: 0, first: undefined, last: undefined };
  const topic = options.topic ?? WAL_TOPIC;
  // Without an end, stop at what the log holds now rather than following it.
  const to = options.to ?? (await topicExtent(options.log, topic)).last;
  if (to === undefined) return result;
  for await (const batch of options.log.read(topic, {
    from: options.from,
    follow: false,
    maxBatchEntries: options.maxBatchEntries ?? 64,
  })) {
    let end = batch.findIndex((e) => beyond(e, to));
    if (end === -1) end = batch.length;
    const taken = batch.slice(0, end).filter((e) => !only || (e.key !== undefined && only.has(e.key)));
    if (taken.length > 0) await applyBatch(options, taken, result, metrics);
    if (end < batch.length) break;
  }
  return result;
}

async function applyBatch(
  options: ReplayOptions,
  batch: LogEntry[],
  result: ReplayResult,
  metrics: Metrics,
): Promise<void> {
  const entries = batch.map((e) => hotEntryOf(e, options.datasetOf));
  const hot = options.hot;
  if (hot) {
    result.hotApplied += await inTransaction(hot.pool, (client) =>
      applyToHot(client, hot.schema, entries, options.datasetOf, hot.strategy),
    );
    metrics.count(METRIC.replayOperations, { target: 'hot' }, entries.length);
  }
  if (options.lake) {
    await options.lake.write(batch.map((e) => ({ position: e.position, payload: e.payload })));
    metrics.count(METRIC.replayOperations, { target: 'cold' }, entries.length);
  }
  result.entries += entries.length;
  result.rows += entries.reduce((n, e) => n + e.count, 0);
  result.first ??= batch[0]!.position;
  result.last = batch[batch.length - 1]!.position;
}
