/*
 * Write throughput against hot-only, in one run against the same PostgreSQL:
 *  - reference: market_data upserts through the hot-only writer, in ROUNDS segments interleaved
 *    with the dual-write ones, so both see the same machine (this 2-core VM drifts by ±20% within
 *    a minute); stage 1 is caught up and idle while a reference segment runs;
 *  - the same rows through the dual-write writer with stage 1 running in this process (events
 *    appended to the file log inside each hot transaction, cold consumer → lake writes in a
 *    worker thread): write throughput with the consumer keeping up, per-segment ratios, and the
 *    time until stage 1 has caught up after the last write.
 */
import { DEFAULT_MAX_BATCH_MS } from '../../src/cold/cold-storage-consumer.ts';
import { marketData } from '../../src/datasets/index.ts';
import { ident } from '../../src/hot/sql.ts';
import { METRIC } from '../../src/observe/metrics.ts';
import type { Stage1, Stage1Status } from '../../src/pipeline/stage1.ts';
import type { CpuSnapshot } from '../cpu.ts';
import { cores } from '../cpu.ts';
import type { HistogramSum } from '../memory-metrics.ts';
import { histogramDelta } from '../memory-metrics.ts';
import { segments } from '../writes.ts';
import { COLD_BATCH_ROWS, REF_SCHEMA, ROUNDS, ROWS } from './config.ts';
import type { DualBench } from './setup.ts';
import { checkCount, withStage1, writeBatches } from './setup.ts';

export interface Throughput {
  /** Hot-only: the seconds of its segments, and each batch's latency in ms. */
  refSeconds: number;
  refLatencies: number[];
  /** Dual write: the seconds of its segments, and with the catch-up after the last one. */
  writeSeconds: number;
  totalSeconds: number;
  dualLatencies: number[];
  /** Hot-only seconds over dual-write seconds, segment by segment. */
  pairRatios: number[];
  notes: string[];
}

/** The reference's warm-up, on an empty table; run before anything else is measured. */
export async function warmUpReference(bench: DualBench): Promise<void> {
  await bench.ref.hot.pool.query(`TRUNCATE ${ident(REF_SCHEMA)}.${ident(marketData.name)}`);
  await writeBatches(bench.ref, bench.inputs.warmup);
}

/** The alternating segments, from both writers warm and stage 1 caught up to the end of the last. */
interface Segments {
  refSeconds: number;
  refLatencies: number[];
  writeSeconds: number;
  dualLatencies: number[];
  pairRatios: number[];
  /** When the last dual-write segment started. */
  lastSegmentCpu: CpuSnapshot;
}

async function alternateSegments(bench: DualBench, stage1: Stage1): Promise<Segments> {
  const s: Omit<Segments, 'lastSegmentCpu'> = {
    refSeconds: 0,
    refLatencies: [],
    writeSeconds: 0,
    dualLatencies: [],
    pairRatios: [],
  };
  let lastSegmentCpu: CpuSnapshot | undefined;
  for (const segment of segments(bench.inputs.main, ROUNDS)) {
    // Stage 1 idle (caught up) while the reference runs; then the same number of rows through it.
    await stage1.waitCaughtUp(60_000);
    const refStarted = performance.now();
    s.refLatencies.push(...(await writeBatches(bench.ref, segment)));
    const hotSeconds = (performance.now() - refStarted) / 1000;
    s.refSeconds += hotSeconds;
    lastSegmentCpu = bench.cpu();
    const started = performance.now();
    s.dualLatencies.push(...(await writeBatches(bench.dual, segment)));
    const seconds = (performance.now() - started) / 1000;
    s.writeSeconds += seconds;
    s.pairRatios.push(hotSeconds / seconds);
  }
  return { ...s, lastSegmentCpu: lastSegmentCpu! };
}

/** What the dual-write run saw, for its notes. */
interface DualRun extends Segments {
  cpuWritten: CpuSnapshot;
  cpuCaughtUp: CpuSnapshot;
  /** Stage 1 at the last acknowledgement, and the rows in the lake then. */
  atWritesDone: Stage1Status;
  committedAtWritesDone: number;
  /** Rows committed to the lake from the first measured write until caught up. */
  committed: number;
  catchUpSeconds: number;
  /** The dual writer's histograms: from the first measured write to the last, and to caught up. */
  hotWrites: HistogramSum;
  lakeWrites: HistogramSum;
  appends: HistogramSum;
  publishes: HistogramSum;
}

async function dualRun(bench: DualBench, stage1: Stage1): Promise<DualRun> {
  await writeBatches(bench.dual, bench.inputs.warmup);
  await stage1.waitCaughtUp(60_000);
  const committedBefore = stage1.consumer.rowsCommitted;
  const metrics0 = bench.dualMetrics.snapshot();
  const segmentsRun = await alternateSegments(bench, stage1);
  const metrics1 = bench.dualMetrics.snapshot();
  const writtenAt = performance.now();
  const cpuWritten = bench.cpu();
  const atWritesDone = await stage1.status();
  const committedAtWritesDone = stage1.consumer.rowsCommitted - committedBefore;
  await stage1.waitCaughtUp(120_000);
  const caughtUpAt = performance.now();
  const cpuCaughtUp = bench.cpu();
  const metrics2 = bench.dualMetrics.snapshot();
  return {
    ...segmentsRun,
    cpuWritten,
    cpuCaughtUp,
    atWritesDone,
    committedAtWritesDone,
    committed: stage1.consumer.rowsCommitted - committedBefore,
    catchUpSeconds: (caughtUpAt - writtenAt) / 1000,
    hotWrites: histogramDelta(metrics0, metrics1, METRIC.hotWriteLatency),
    lakeWrites: histogramDelta(metrics0, metrics2, METRIC.coldWriteLatency),
    appends: histogramDelta(metrics0, metrics2, METRIC.walAppendLatency),
    publishes: histogramDelta(metrics0, metrics2, METRIC.eventPublishLatency),
  };
}

function dualNotes(run: DualRun): string[] {
  const { atWritesDone, hotWrites, publishes, appends, lakeWrites } = run;
  return [
    `dual write: writes ${run.writeSeconds.toFixed(1)} s, then ${run.catchUpSeconds.toFixed(1)} s until caught up; ` +
      `at the last ack the lake held ${run.committedAtWritesDone.toLocaleString()} of ${ROWS.toLocaleString()} rows ` +
      `(outbox backlog ${atWritesDone.outboxBacklog} events, log backlog ${atWritesDone.coldBacklog} events)`,
    `dual write against hot-only, segment by segment (${ROUNDS} pairs of ${(ROWS / ROUNDS).toLocaleString()} rows): ratios ${run.pairRatios.map((r) => r.toFixed(2)).join(', ')}`,
    `dual write CPU while writing (last segment): ${cores(run.lastSegmentCpu, run.cpuWritten)}; while catching up: ${cores(run.cpuWritten, run.cpuCaughtUp)}`,
    `dual write, time inside the process: hot transactions ${hotWrites.sum.toFixed(1)} s (${hotWrites.count} batches); ` +
      `relay ${publishes.count} log appends ${publishes.sum.toFixed(1)} s (file log append to fsync ${appends.sum.toFixed(1)} s); ` +
      `cold consumer ${lakeWrites.count} lake commits ${lakeWrites.sum.toFixed(1)} s (maxBatchRows ${COLD_BATCH_ROWS.toLocaleString()}, maxBatchMs ${DEFAULT_MAX_BATCH_MS.toLocaleString()})`,
  ];
}

/** Hot-only and dual write (stage 1 in this process, until it has caught up), segment by segment. */
export async function measureThroughput(bench: DualBench): Promise<Throughput> {
  const run = await withStage1(
    bench,
    {
      log: 'log',
      lake: 'lake',
      metrics: bench.dualMetrics,
      logMetrics: bench.dualMetrics,
      maxBatchMs: DEFAULT_MAX_BATCH_MS,
    },
    (stage1) => dualRun(bench, stage1),
  );
  if (run.committed < ROWS) throw new Error(`dual write: ${ROWS} rows written, ${run.committed} in the lake`);
  await checkCount(bench, bench.dual, 'dual write');
  await checkCount(bench, bench.ref, 'hot-only');
  return {
    refSeconds: run.refSeconds,
    refLatencies: run.refLatencies,
    writeSeconds: run.writeSeconds,
    // The writes, segment by segment, then the catch-up after the last one.
    totalSeconds: run.writeSeconds + run.catchUpSeconds,
    dualLatencies: run.dualLatencies,
    pairRatios: run.pairRatios,
    notes: dualNotes(run),
  };
}
