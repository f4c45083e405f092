import { findDataset } from '../datasets/index.ts';
import { LakeWriter } from '../lake/lake-writer.ts';
import type { Log } from '../log/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import { METRIC, noopMetrics } from '../observe/metrics.ts';
import type { Tierflow } from '../tierflow.ts';
import { ColdStorageConsumer } from './cold-storage-consumer.ts';
import type { DualStorageWriter } from './dual-storage-writer.ts';
import { OutboxRelay } from './outbox-relay.ts';

export const EVENT_TOPIC = 'data-written';
export const COLD_GROUP = 'cold-storage';

export interface Stage1Status {
  outboxBacklog: number;
  /** Events in the log the cold consumer has not committed yet. */
  coldBacklog: number;
  hotBreaker: string;
  coldBreaker: string;
  caughtUp: boolean;
}

export interface Stage1 {
  readonly relay: OutboxRelay;
  readonly consumer: ColdStorageConsumer;
  readonly lake: LakeWriter;
  status(): Promise<Stage1Status>;
  /** Resolves once every committed hot write is in the lake. */
  waitCaughtUp(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs stage 1's moving parts beside a tierflow in dual-write mode: the outbox relay (hot → log)
 * and the cold consumer (log → lake). Errors are reported through `onError`; nothing stops on
 * them, because events wait in the outbox and the log until the failing side recovers.
 */
export async function startStage1(options: {
  tf: Tierflow;
  log: Log;
  lakeRoot: string;
  metrics?: Metrics;
  maxBatchRows?: number;
  maxBatchMs?: number;
  onError?: (error: unknown) => void;
}): Promise<Stage1> {
  const { tf, log } = options;
  if (tf.writer.kind !== 'dual-write')
    throw new Error(
      'stage 1 needs a tierflow in dual-write mode (mode: "dual-write" or TIERFLOW_MODE=dual-write)',
    );
  const metrics = options.metrics ?? noopMetrics;
  const lake = await LakeWriter.open(options.lakeRoot, { metrics });
  const relay = new OutboxRelay(tf.hot.pool, tf.schema, log, {
    topic: EVENT_TOPIC,
    metrics,
    onError: options.onError,
  });
  const consumer = new ColdStorageConsumer(log, lake, {
    topic: EVENT_TOPIC,
    group: COLD_GROUP,
    datasetOf: findDataset,
    maxBatchRows: options.maxBatchRows,
    maxBatchMs: options.maxBatchMs,
    metrics,
    onError: options.onError,
  });
  relay.start();
  consumer.start();

  const coldBacklog = async () => {
    if (!(await log.topics()).includes(EVENT_TOPIC)) return 0;
    return log.lag(COLD_GROUP, EVENT_TOPIC);
  };
  const status = async (): Promise<Stage1Status> => {
    const outboxBacklog = await relay.backlog();
    const cold = await coldBacklog();
    metrics.gauge(METRIC.coldBacklog, cold);
    return {
      outboxBacklog,
      coldBacklog: cold,
      hotBreaker: (tf.writer as DualStorageWriter).hotBreaker.state,
      coldBreaker: consumer.coldBreaker.state,
      caughtUp: outboxBacklog === 0 && cold === 0,
    };
  };
  let stopped: Promise<void> | undefined;
  return {
    relay,
    consumer,
    lake,
    status,
    async waitCaughtUp(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (!(await status()).caughtUp) {
        if (Date.now() > deadline)
          throw new Error(
            `stage 1 did not catch up within ${timeoutMs} ms: ${JSON.stringify(await status())}`,
          );
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    stop() {
      stopped ??= (async () => {
        await relay.stop();
        await consumer.stop();
        await lake.close();
      })();
      return stopped;
    },
  };
}
