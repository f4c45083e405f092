import type { PipelineState } from '../core/index.ts';
import type { Log } from '../log/log.ts';
import { topicPartitions } from '../log/log.ts';
import { PartitionedColdConsumer } from '../cold/partitioned-cold-consumer.ts';
import type { Metrics } from '../observe/metrics.ts';
import { noopMetrics } from '../observe/metrics.ts';
import type { Tierflow } from '../tierflow.ts';
import { ColdStorageConsumer } from '../cold/cold-storage-consumer.ts';
import { CommitReceipts } from './commit-receipts.ts';
import { DualStorageWriter } from './dual-storage-writer.ts';
import { EVENT_TOPIC } from '../events/topics.ts';
import type { LakeThread } from '../cold/open-lake-sink.ts';
import { openLakeSink } from '../cold/open-lake-sink.ts';
import { OutboxRelay } from './outbox-relay.ts';
import { waitCaughtUp } from '../core/wait-caught-up.ts';
import { assertLogFitsPositions } from '../cold/log-fits-positions.ts';
import type { RetentionSettings } from '../log/retention/index.ts';
import { startStageRetention } from '../cold/stage-retention.ts';
import { STATUS_LAG_MAX_AGE_MS } from '../cold/pending-since.ts';

export { EVENT_TOPIC };
export const COLD_GROUP = 'cold-storage';

export interface Stage1Status {
  outboxBacklog: number;
  /** Events in the log the cold consumer has not committed yet. */
  coldBacklog: number;
  hotBreaker: string;
  coldBreaker: string;
  eventLogBreaker: string;
  caughtUp: boolean;
  /** The cold consumer of this process. */
  pipelines: PipelineState[];
}

/** What stage 1 asks of its cold consumer: one on a one-partition topic, a group member on several. */
export interface ColdConsumer {
  start(): void;
  stop(): Promise<void>;
  state(): PipelineState;
  refreshLag(maxAgeMs?: number): Promise<void>;
  readonly rowsCommitted: number;
  readonly coldBreaker: { readonly state: string };
}

export interface Stage1 {
  readonly relay: OutboxRelay;
  readonly consumer: ColdConsumer;
  status(): Promise<Stage1Status>;
  /** Resolves once every committed hot write is in the lake. */
  waitCaughtUp(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs stage 1's moving parts beside a tierflow in dual-write mode: its writer appends events to
 * `log` directly from now on (until stop), the outbox relay carries whatever waits in the outbox
 * (events of writers elsewhere or from before), and the cold consumer moves committed events to
 * the lake. Errors are reported through `onError`; nothing stops on them, because events wait in
 * the outbox and the log until the failing side recovers.
 */
export async function startStage1(options: {
  tf: Tierflow;
  log: Log;
  lakeRoot: string;
  metrics?: Metrics;
  maxBatchRows?: number;
  maxBatchMs?: number;
  /** Append events from this process's writer straight to the log (default true). */
  directAppend?: boolean;
  /**
   * Where the lake is written: 'worker' (default), a worker thread, so decoding and Parquet
   * encoding never hold up the hot writes on this thread; or 'main', this thread.
   */
  lakeThread?: LakeThread;
  onError?: (error: unknown) => void;
  /** On a topic of several partitions: how long the cold group waits for a silent member. */
  sessionTimeoutMs?: number;
  /** Retention of the event topic (never past the cold group's commit). Default: from the environment. */
  retention?: RetentionSettings | false;
}): Promise<Stage1> {
  const { tf, log } = options;
  if (!(tf.writer instanceof DualStorageWriter))
    throw new Error(
      'stage 1 needs a tierflow in dual-write mode (mode: "dual-write" or TIERFLOW_MODE=dual-write)',
    );
  await assertLogFitsPositions(log, 'stage 1', EVENT_TOPIC);
  const writer = tf.writer;
  const metrics = options.metrics ?? noopMetrics;
  const partitions = await topicPartitions(log, EVENT_TOPIC);
  // One partition: one lake writer for the process, opened now. Several: one per partition this
  // process's group member owns, opened and closed as the group moves them.
  const sink =
    partitions > 1
      ? undefined
      : await openLakeSink(options.lakeRoot, EVENT_TOPIC, { lakeThread: options.lakeThread, metrics });
  const relay = new OutboxRelay(tf.hot.pool, tf.schema, log, {
    topic: EVENT_TOPIC,
    partitions,
    metrics,
    onError: options.onError,
  });
  const consumerOptions = {
    topic: EVENT_TOPIC,
    group: COLD_GROUP,
    commits: new CommitReceipts(tf.hot.pool, tf.schema),
    maxBatchRows: options.maxBatchRows,
    maxBatchMs: options.maxBatchMs,
    metrics,
    onError: options.onError,
  };
  const consumer: ColdConsumer = sink
    ? new ColdStorageConsumer(log, sink, consumerOptions)
    : new PartitionedColdConsumer(log, {
        ...consumerOptions,
        sessionTimeoutMs: options.sessionTimeoutMs,
        openSink: (partition) =>
          openLakeSink(options.lakeRoot, EVENT_TOPIC, {
            lakeThread: options.lakeThread,
            metrics,
            partition,
          }),
      });
  relay.start();
  consumer.start();
  const retention = startStageRetention(log, options.retention, {
    topic: EVENT_TOPIC,
    group: COLD_GROUP,
    metrics,
    onError: options.onError,
  });
  if (options.directAppend ?? true) writer.publishTo(log, { partitions });

  const coldBacklog = async () => {
    if (!(await log.topics()).includes(EVENT_TOPIC)) return 0;
    return log.lag(COLD_GROUP, EVENT_TOPIC);
  };
  const status = async (): Promise<Stage1Status> => {
    // As of now, whether or not anything scrapes /metrics.
    await consumer.refreshLag(STATUS_LAG_MAX_AGE_MS);
    const outboxBacklog = await relay.backlog();
    const cold = await coldBacklog();
    return {
      outboxBacklog,
      coldBacklog: cold,
      hotBreaker: writer.hotBreaker.state,
      coldBreaker: consumer.coldBreaker.state,
      eventLogBreaker: writer.logBreaker.state,
      caughtUp: outboxBacklog === 0 && cold === 0,
      pipelines: [consumer.state()],
    };
  };
  let stopped: Promise<void> | undefined;
  return {
    relay,
    consumer,
    status,
    waitCaughtUp: (timeoutMs = 60_000) => waitCaughtUp('stage 1', status, timeoutMs),
    stop() {
      stopped ??= (async () => {
        // From here the writer's events wait in the outbox for the next start.
        writer.publishTo(undefined);
        await retention?.stop();
        await relay.stop();
        try {
          await consumer.stop();
        } finally {
          await sink?.close();
        }
      })();
      return stopped;
    },
  };
}
