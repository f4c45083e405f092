import { allDatasets, findDataset } from '../datasets/index.ts';
import { LakeWriter } from '../lake/lake-writer.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { EventSink, LakeRuns } from './event-sink.ts';
import { LakeEventSink } from './event-sink.ts';
import { WorkerEventSink } from './worker-event-sink.ts';
import { EVENT_TOPIC } from '../events/topics.ts';

export type LakeThread = 'worker' | 'main';

/**
 * Runs over every built-in dataset's manifest: a new run starts above anything the lake holds. A
 * lake written before runs existed was fed by stage 1's topic.
 */
export function lakeRuns(lake: LakeWriter, topic: string, options: { replay?: boolean } = {}): LakeRuns {
  return { lake, topic, datasets: allDatasets.map((d) => d.name), legacyTopic: EVENT_TOPIC, ...options };
}

/**
 * The lake, opened for the events of one log topic: in a worker thread (default), so decoding and
 * Parquet encoding never hold up the hot writes on this thread, or on this thread.
 */
export async function openLakeSink(
  lakeRoot: string,
  topic: string,
  /**
   * `replay`: the sink re-applies history (position-map.ts, RunOptions.replay). `partition`: the
   * lake scope of one source partition (lake/scope.ts); its events come with positions that are
   * the partition's offsets (partition-position.ts).
   */
  options: { lakeThread?: LakeThread; metrics?: Metrics; replay?: boolean; partition?: number } = {},
): Promise<EventSink & { close(): Promise<void> }> {
  if ((options.lakeThread ?? 'worker') === 'worker')
    return WorkerEventSink.start(lakeRoot, topic, {
      metrics: options.metrics,
      replay: options.replay,
      partition: options.partition,
    });
  const lake = await LakeWriter.open(lakeRoot, { metrics: options.metrics, partition: options.partition });
  return Object.assign(new LakeEventSink(lake, findDataset, { runs: lakeRuns(lake, topic, options) }), {
    close: () => lake.close(),
  });
}
