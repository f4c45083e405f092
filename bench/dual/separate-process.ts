import path from 'node:path';
import type { Tierflow } from '../../src/index.ts';
import { METRIC } from '../../src/observe/metrics.ts';
import type { CpuSnapshot } from '../cpu.ts';
import { cores, processCores, processCpuSeconds } from '../cpu.ts';
import { lakeMarketDataRows } from '../lake-rows.ts';
import type { HistogramSum } from '../memory-metrics.ts';
import { MemoryMetrics, histogramDelta } from '../memory-metrics.ts';
import { ms, percentile } from '../stats.ts';
import { waitFor } from '../wait.ts';
import { ROWS, SEP_SCHEMA } from './config.ts';
import type { DualBench } from './setup.ts';
import { createDualWriter, writeBatches } from './setup.ts';
import type { ServeHealth, ServeProcess } from './serve-process.ts';
import { killServe, serveHealth, servePort, spawnServe, stopServe } from './serve-process.ts';

/*
 * Dual write with stage 1 in its own process (`tierflow serve --mode dual-write`): the writer
 * here has no log, so every event takes the outbox fallback and the relay; /health tells when
 * stage 1 has caught up. A fresh schema and lake, and no warm-up: the lake must hold exactly the
 * ROWS rows written.
 */

const CATCH_UP_TIMEOUT_MS = 120_000;
const HEALTH_POLL_MS = 50;

export interface SeparateProcess {
  /** Each batch's latency in ms. */
  latencies: number[];
  /** From the first write to the last acknowledgement, and to /health saying caught up. */
  writeSeconds: number;
  totalSeconds: number;
  notes: string[];
}

/** Writes, timings and CPU readings (this side's snapshots, the child's CPU-seconds) of one run. */
interface SeparateRun {
  latencies: number[];
  writeSeconds: number;
  totalSeconds: number;
  /** The writer's hot transactions. */
  hot: HistogramSum;
  /** /health at the last acknowledgement. */
  atWritesDone: ServeHealth;
  cpu: [CpuSnapshot, CpuSnapshot, CpuSnapshot];
  serveCpu: [number, number, number];
}

function serveArgs(databaseUrl: string, tmp: string, lake: string): string[] {
  return [
    '--database-url',
    databaseUrl,
    '--schema',
    SEP_SCHEMA,
    'serve',
    '--mode',
    'dual-write',
    '--port',
    '0',
    '--log',
    `file:${path.join(tmp, 'sep-log')}`,
    '--lake',
    lake,
  ];
}

/** Writes the measured rows through `tf`, then polls the child's /health until it has caught up. */
async function writeUntilCaughtUp(
  bench: DualBench,
  tf: Tierflow,
  metrics: MemoryMetrics,
  serve: ServeProcess,
  port: number,
): Promise<SeparateRun> {
  const pid = serve.child.pid;
  const cpu0 = bench.cpu();
  const serveCpu0 = processCpuSeconds(pid);
  const started = performance.now();
  const latencies = await writeBatches(tf, bench.inputs.main);
  const writtenAt = performance.now();
  const cpu1 = bench.cpu();
  const serveCpu1 = processCpuSeconds(pid);
  const hot = histogramDelta(new Map(), metrics.snapshot(), METRIC.hotWriteLatency);
  let atWritesDone: ServeHealth | undefined;
  let health: ServeHealth | undefined;
  await waitFor(
    async () => {
      health = await serveHealth(serve, port);
      atWritesDone ??= health;
      return health.caughtUp === true;
    },
    CATCH_UP_TIMEOUT_MS,
    HEALTH_POLL_MS,
    () =>
      `dual write (stage 1 in its own process): not caught up within ${CATCH_UP_TIMEOUT_MS} ms: ${JSON.stringify(health)}`,
  );
  const caughtUpAt = performance.now();
  return {
    latencies,
    writeSeconds: (writtenAt - started) / 1000,
    totalSeconds: (caughtUpAt - started) / 1000,
    hot,
    atWritesDone: atWritesDone!,
    cpu: [cpu0, cpu1, bench.cpu()],
    serveCpu: [serveCpu0, serveCpu1, processCpuSeconds(pid)],
  };
}

/** Throws unless both tiers hold exactly the ROWS rows written. */
async function verify(tf: Tierflow, lake: string): Promise<void> {
  const inLake = await lakeMarketDataRows(lake);
  if (inLake !== ROWS)
    throw new Error(`dual write (stage 1 in its own process): ${ROWS} rows written, ${inLake} in the lake`);
  const hotRows = await tf.repositories.marketData.count();
  if (hotRows !== ROWS)
    throw new Error(`dual write (stage 1 in its own process): expected ${ROWS} hot rows, found ${hotRows}`);
}

function separateNotes(run: SeparateRun, startSeconds: number, serveErrors: string[]): string[] {
  const { writeSeconds, atWritesDone } = run;
  const [cpu0, cpu1, cpu2] = run.cpu;
  const [serveCpu0, serveCpu1, serveCpu2] = run.serveCpu;
  const notes = [
    `dual write, stage 1 in its own process (tierflow serve --mode dual-write, ready ${startSeconds.toFixed(1)} s after spawn; ` +
      `no warm-up): writer only ${Math.round(ROWS / writeSeconds).toLocaleString()} rows/s (writes ${writeSeconds.toFixed(1)} s, ` +
      `batch p50 ${ms(percentile(run.latencies, 0.5))} ms, hot transactions ${run.hot.sum.toFixed(1)} s), ` +
      `then ${(run.totalSeconds - writeSeconds).toFixed(1)} s until caught up ` +
      `(at the last ack: outbox backlog ${atWritesDone.outboxBacklog} events, log backlog ${atWritesDone.coldBacklog} events; ` +
      `/health polled every ${HEALTH_POLL_MS} ms); lake verified: ${ROWS.toLocaleString()} rows`,
    `dual write, stage 1 in its own process, CPU while writing: ${cores(cpu0, cpu1)} ` +
      `(of which tierflow serve ${processCores(serveCpu0, serveCpu1, cpu0, cpu1)}); ` +
      `while catching up: ${cores(cpu1, cpu2)} (tierflow serve ${processCores(serveCpu1, serveCpu2, cpu1, cpu2)})`,
  ];
  if (serveErrors.length)
    notes.push(`tierflow serve reported ${serveErrors.length} errors on stderr; first: ${serveErrors[0]}`);
  return notes;
}

export async function measureSeparateProcess(bench: DualBench): Promise<SeparateProcess> {
  const metrics = new MemoryMetrics();
  const tf = await createDualWriter(bench.ref, SEP_SCHEMA, metrics);
  let serve: ServeProcess | undefined;
  try {
    const lake = path.join(bench.tmp, 'sep-lake');
    const spawnedAt = performance.now();
    serve = spawnServe(serveArgs(tf.databaseUrl, bench.tmp, lake));
    const port = await servePort(serve);
    const startSeconds = (performance.now() - spawnedAt) / 1000;
    const run = await writeUntilCaughtUp(bench, tf, metrics, serve, port);
    await stopServe(serve);
    await verify(tf, lake);
    const { latencies, writeSeconds, totalSeconds } = run;
    return { latencies, writeSeconds, totalSeconds, notes: separateNotes(run, startSeconds, serve.errors()) };
  } finally {
    if (serve) await killServe(serve);
    await tf.close();
  }
}
