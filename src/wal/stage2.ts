import type { Log } from '../log/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import { noopMetrics } from '../observe/metrics.ts';
import type { PipelineState } from '../core/index.ts';
import { STATUS_LAG_MAX_AGE_MS, entriesAfter } from '../cold/pending-since.ts';
import { startStageRetention } from '../cold/stage-retention.ts';
import type { RetentionSettings } from '../log/retention/index.ts';
import type { LakeThread } from '../cold/open-lake-sink.ts';
import { openLakeSink } from '../cold/open-lake-sink.ts';
import { ColdStorageProcessor, WAL_COLD_GROUP } from './cold-storage-processor.ts';
import type { HotStorageProcessor } from './hot-storage-processor.ts';
import { WAL_TOPIC } from './wal-entry.ts';
import { durableCheckpoint, readCheckpoint } from './checkpoints.ts';
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
  /** Entries appended after the hot processor's checkpoint (whichever process applies them). */
  hotLag: number;
  /** Entries after the cold processor's committed position. */
  coldLag: number;
  coldBreaker: string;
  caughtUp: boolean;
  /** The hot processor and the cold processor of this process. */
  pipelines: PipelineState[];
}

export interface Stage2 {
  readonly cold: ColdStorageProcessor;
  status(): Promise<Stage2Status>;
  /** Resolves once both tiers hold every entry appended so far. */
  waitCaughtUp(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
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
  /** Retention of the WAL (never past the cold group's commit or the hot checkpoint). Default: from the environment. */
  retention?: RetentionSettings | false;
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
  const { pool, schema } = options.wal.hot;
  const retention = startStageRetention(log, options.retention, {
    topic: WAL_TOPIC,
    group: WAL_COLD_GROUP,
    // The hot processor's position lives in PostgreSQL: entries after its checkpoint stay.
    keepFrom: async () => {
      const checkpoint = await durableCheckpoint(pool, schema, hotProcessor.name);
      return checkpoint ? checkpoint.position + 1n : 0n;
    },
    metrics,
    onError: options.onError,
  });

  const status = async (): Promise<Stage2Status> => {
    // As of now, whether or not anything scrapes /metrics.
    await Promise.all([
      hotProcessor.refreshLag(STATUS_LAG_MAX_AGE_MS),
      cold.refreshLag(STATUS_LAG_MAX_AGE_MS),
    ]);
    const pipelines = [hotProcessor.state(), cold.state()];
    const checkpoint = await readCheckpoint(pool, schema, hotProcessor.name);
    const hotLag = await entriesAfter(log, WAL_TOPIC, checkpoint?.position);
    const coldLag = (await log.topics()).includes(WAL_TOPIC) ? await log.lag(WAL_COLD_GROUP, WAL_TOPIC) : 0;
    return {
      hotLag,
      coldLag,
      coldBreaker: cold.coldBreaker.state,
      caughtUp: hotLag === 0 && coldLag === 0,
      pipelines,
    };
  };
  let stopped: Promise<void> | undefined;
  return {
    cold,
    status,
    waitCaughtUp: (timeoutMs = 60_000) => waitCaughtUp('stage 2', status, timeoutMs),
    stop() {
      stopped ??= (async () => {
        try {
          await retention?.stop();
          await cold.stop();
        } finally {
          await sink.close();
        }
      })();
      return stopped;
    },
  };
}
