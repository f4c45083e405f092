/**
 * The cold side's CPU work — decoding events, building Arrow columns, encoding zstd Parquet — on a
 * thread of its own, so it never stalls the event loop the hot writes run on. It owns the
 * LakeWriter; the consumer's thread sends it committed events and waits for each lake commit.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { findDataset } from '../datasets/index.ts';
import { LakeWriter } from '../lake/lake-writer.ts';
import { RecordedMetrics } from '../observe/recorded-metrics.ts';
import { LakeEventSink } from './event-sink.ts';
import { lakeRuns } from './open-lake-sink.ts';
import type { FromWorker, LakeSinkWorkerData, ToWorker } from './lake-sink-protocol.ts';
import { serialiseError } from './lake-sink-protocol.ts';

const port = parentPort!;
// Cold work yields to hot work: on Linux a thread is a task with a nice value of its own, so this
// thread runs behind the writers' thread and PostgreSQL when the cores are busy. Elsewhere
// (no /proc/thread-self) it keeps the default priority, which costs speed, never correctness.
try {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  setPriority(tid, 10);
} catch {
  // Not Linux, or not permitted: run at normal priority.
}
const { lakeRoot, topic, replay, partition } = workerData as LakeSinkWorkerData;
const metrics = new RecordedMetrics();
const send = (message: FromWorker) => port.postMessage(message);

let lake: LakeWriter;
try {
  lake = await LakeWriter.open(lakeRoot, { metrics, partition });
} catch (error) {
  send({ type: 'open-failed', error: serialiseError(error) });
  process.exit(1);
}
const sink = new LakeEventSink(lake, findDataset, { runs: lakeRuns(lake, topic, { replay }) });
// One request at a time, in order: the lake commits batches in log order.
let queue: Promise<void> = Promise.resolve();
port.on('message', (message: ToWorker) => {
  queue = queue.then(async () => {
    try {
      if (message.type === 'write') await sink.write(message.events);
      else await lake.close();
      send({ type: 'done', id: message.id, metrics: metrics.take() });
    } catch (error) {
      send({ type: 'failed', id: message.id, error: serialiseError(error), metrics: metrics.take() });
    }
    if (message.type === 'close') port.close();
  });
});
send({ type: 'ready', metrics: metrics.take() });
