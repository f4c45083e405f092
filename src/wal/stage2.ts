import type { Log } from '../log/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import { METRIC, noopMetrics } from '../observe/metrics.ts';
import type { LakeThread } from '../cold/open-lake-sink.ts';
import { openLakeSink } from '../cold/open-lake-sink.ts';
import { ColdStorageProcessor, WAL_COLD_GROUP } from './cold-storage-processor.ts';
import type { HotStorageProcessor } from './hot-storage-processor.ts';
import { WAL_TOPIC } from './wal-entry.ts';
import { readCheckpoint } from './checkpoints.ts';
import type { HotStore } from '../hot/hot-store.ts';
import { waitCaughtUp } from '../core/wait-caught-up.ts';

/** What stage 2 needs of a tierflow in WAL mode. */
export interface WalRuntime {
  readonly log: Log;
  readonly hotProcessor: HotStorageProcessor;
  /** Where the hot processor keeps its checkpoint. */
  readonly hot: HotStore;
}

export interface Stage2Status {
  /** Entries appended after the hot processor's checkpoint. */
  hotLag: number;
  /** Entries after the cold processor's committed position. */
  coldLag: number;
  coldBreaker: string;
  caughtUp: boolean;
}

export interface Stage2 {
  readonly cold: ColdStorageProcessor;
  status(): Promise<Stage2Status>;
  /** Resolves once both tiers hold every entry appended so far. */
  waitCaughtUp(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Entries after `position` in a topic whose last position is `last` (file log and NATS number entries contiguously). */
function entriesAfter(last: bigint | undefined, position: bigint | undefined, total: number): number {
  if (last === undefined) return 0;
  if (position === undefined) return total;
  return Math.max(0, Number(last - position));
}

/**
 * Runs stage 2's cold side beside a tierflow in WAL mode (whose hot processor runs already, so
 * `ack: 'hot'` can wait on it): the ColdStorageProcessor, WAL → lake, with the lake in a worker
 * thread by default. Errors are reported through `onError`; entries wait in the log meanwhile.
 */
export async function startStage2(options: {
  wal: WalRuntime;
  lakeRoot: string;
  metrics?: Metrics;
  maxBatchRows?: number;
  maxBatchMs?: number;
  lakeThread?: LakeThread;
  onError?: (error: unknown) => void;
}): Promise<Stage2> {
  const { log, hotProcessor } = options.wal;
  const metrics = options.metrics ?? noopMetrics;
  const sink = await openLakeSink(options.lakeRoot, WAL_TOPIC, { lakeThread: options.lakeThread, metrics });
  const cold = new ColdStorageProcessor(log, sink, {
    maxBatchRows: options.maxBatchRows,
    maxBatchMs: options.maxBatchMs,
    metrics,
    onError: options.onError,
  });
  cold.start();

  const status = async (): Promise<Stage2Status> => {
    if (!(await log.topics()).includes(WAL_TOPIC))
      return { hotLag: 0, coldLag: 0, coldBreaker: cold.coldBreaker.state, caughtUp: true };
    const stats = await log.stats(WAL_TOPIC);
    const hotLag = entriesAfter(stats.last, hotProcessor.appliedThrough, stats.entries);
    const coldLag = await log.lag(WAL_COLD_GROUP, WAL_TOPIC);
    metrics.gauge(METRIC.walProcessorLagEntries, hotLag, { tier: 'hot' });
    metrics.gauge(METRIC.walProcessorLagEntries, coldLag, { tier: 'cold' });
    const checkpoint = await readCheckpoint(options.wal.hot.pool, options.wal.hot.schema, 'hot');
    if (checkpoint)
      metrics.gauge(METRIC.walCheckpointAge, (Date.now() - checkpoint.updatedAt.getTime()) / 1000, {
        tier: 'hot',
      });
    return { hotLag, coldLag, coldBreaker: cold.coldBreaker.state, caughtUp: hotLag === 0 && coldLag === 0 };
  };
  let stopped: Promise<void> | undefined;
  return {
    cold,
    status,
    waitCaughtUp: (timeoutMs = 60_000) => waitCaughtUp('stage 2', status, timeoutMs),
    stop() {
      stopped ??= (async () => {
        try {
          await cold.stop();
        } finally {
          await sink.close();
        }
      })();
      return stopped;
    },
  };
}
