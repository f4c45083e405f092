import { DEFAULT_MAX_BATCH_MS } from '../../src/cold/cold-storage-consumer.ts';
import { METRIC } from '../../src/observe/metrics.ts';
import type { Stage1 } from '../../src/pipeline/stage1.ts';
import { cores } from '../cpu.ts';
import { MemoryMetrics } from '../memory-metrics.ts';
import { ms, percentile } from '../stats.ts';
import type { PacedWrites } from '../writes.ts';
import { writePaced } from '../writes.ts';
import { BATCH, COLD_BATCH_ROWS, LAG_BATCHES_PER_S, LAG_MAX_BATCH_MS } from './config.ts';
import type { DualBench } from './setup.ts';
import { withStage1 } from './setup.ts';

/*
 * Cold lag at a steady LAG_BATCHES_PER_S × BATCH rows/s (batches scheduled by time, one writer):
 * for every batch, the time from its write acknowledgement to the lake commit holding its rows.
 */

export interface ColdLag {
  /** Rows per second actually written. */
  rowsPerS: number;
  /** Per batch, seconds from its acknowledgement to the commit seen holding its rows. */
  lags: number[];
  note: string;
}

/**
 * When the rows of each batch were first seen committed to the lake. The consumer counts
 * rowsCommitted in write order, so batch k is in once it has counted (k + 1) × BATCH rows. The
 * cold-lag gauge serves only as a signal, its value unused: the consumer sets it after each flush
 * has counted its rows, so a commit is seen as soon as the gauge is set. Nothing scrapes here
 * (MemoryMetrics.onScrape is a no-op), so only a flush sets it. Polling every 5 ms is the
 * fallback, and bounds how late a commit is seen should the gauge come later or not at all.
 */
function watchCommits(stage1: Stage1, metrics: MemoryMetrics, batchCount: number) {
  const commits: number[] = new Array(batchCount);
  let seen = 0;
  const look = () => {
    const now = performance.now();
    while (seen < batchCount && stage1.consumer.rowsCommitted >= (seen + 1) * BATCH) commits[seen++] = now;
  };
  metrics.onGauge = (name) => {
    if (name === METRIC.coldLag) look();
  };
  const poller = setInterval(look, 5);
  return { commits, look, seen: () => seen, stopPolling: () => clearInterval(poller) };
}

/** The paced writes with stage 1 running, until it has caught up; what they and the consumer saw. */
async function writeAtRate(bench: DualBench, stage1: Stage1, metrics: MemoryMetrics) {
  const watch = watchCommits(stage1, metrics, bench.inputs.lagBatchCount);
  const cpu0 = bench.cpu();
  let writes: PacedWrites;
  try {
    writes = await writePaced(bench.dual, bench.inputs.lagRows, LAG_BATCHES_PER_S);
    await stage1.waitCaughtUp(60_000);
    watch.look();
  } finally {
    watch.stopPolling();
  }
  const cpu = cores(cpu0, bench.cpu());
  const lakeCommits = metrics.sums.get(METRIC.coldWriteLatency) ?? { sum: 0, count: 0 };
  return { writes, commits: watch.commits, seen: watch.seen(), cpu, lakeCommits };
}

export async function measureColdLag(bench: DualBench): Promise<ColdLag> {
  const { lagBatchCount } = bench.inputs;
  const metrics = new MemoryMetrics();
  const { writes, commits, seen, cpu, lakeCommits } = await withStage1(
    bench,
    { log: 'log-lag', lake: 'lake-lag', metrics, maxBatchMs: LAG_MAX_BATCH_MS },
    (stage1) => writeAtRate(bench, stage1, metrics),
  );
  if (seen < lagBatchCount) throw new Error(`cold lag: ${seen} of ${lagBatchCount} batches seen committed`);
  const lags = writes.acks.map((ack, k) => Math.max(0, commits[k]! - ack) / 1000);
  const slips = writes.slips.filter((s) => s > 1);
  const { latencies } = writes;
  const note =
    `cold lag: ${lagBatchCount} batches of ${BATCH.toLocaleString()} scheduled every ${1000 / LAG_BATCHES_PER_S} ms ` +
    `(one writer, open loop by time; ${slips.length} batches started > 1 ms late` +
    `${slips.length ? `, at most ${Math.max(...slips).toFixed(0)} ms` : ''}; batch write p50 ` +
    `${ms(percentile(latencies, 0.5))} ms, p99 ${ms(percentile(latencies, 0.99))} ms); ` +
    `lag = write ack → lake commit holding the batch's rows; cold consumer maxBatchMs ${LAG_MAX_BATCH_MS} ms ` +
    `(BENCH_LAG_MAX_BATCH_MS; the throughput part uses ${DEFAULT_MAX_BATCH_MS.toLocaleString()} ms), maxBatchRows ${COLD_BATCH_ROWS.toLocaleString()}; ` +
    `${lakeCommits.count} lake commits, mean ${((lakeCommits.sum / Math.max(1, lakeCommits.count)) * 1000).toFixed(0)} ms each; ` +
    `CPU ${cpu}`;
  return { rowsPerS: (lagBatchCount * BATCH) / writes.seconds, lags, note };
}
