import { ident } from '../../src/hot/sql.ts';
import { METRIC } from '../../src/observe/metrics.ts';
import { cores } from '../cpu.ts';
import { MemoryMetrics, histogramDelta } from '../memory-metrics.ts';
import { ms, percentile } from '../stats.ts';
import { BATCH, OUTBOX_SCHEMA, ROWS } from './config.ts';
import type { DualBench } from './setup.ts';
import { checkCount, createDualWriter, writeBatches } from './setup.ts';

/**
 * Diagnostic: the dual-write writer without stage 1 (the outbox fills, nobody drains it), to
 * split the cost of the outbox in the hot transaction from the cost of stage 1 running beside.
 * Returns its rate in rows/s and its note.
 */
export async function measureOutboxOnly(bench: DualBench): Promise<{ rowsPerS: number; note: string }> {
  const { main, warmup } = bench.inputs;
  const metrics = new MemoryMetrics();
  const tf = await createDualWriter(bench.ref, OUTBOX_SCHEMA, metrics);
  try {
    await writeBatches(tf, warmup);
    const m0 = metrics.snapshot();
    const cpu0 = bench.cpu();
    const started = performance.now();
    const latencies = await writeBatches(tf, main);
    const seconds = (performance.now() - started) / 1000;
    const cpu1 = bench.cpu();
    const hot = histogramDelta(m0, metrics.snapshot(), METRIC.hotWriteLatency);
    const { rows } = await bench.ref.hot.pool.query<{ bytes: string }>(
      `SELECT pg_total_relation_size('${ident(OUTBOX_SCHEMA)}.tierflow_outbox')::text AS bytes`,
    );
    const bytesPerEvent = Number(rows[0]!.bytes) / (ROWS / BATCH + warmup.length);
    const note =
      `outbox only (dual-write writer, stage 1 not running): ${seconds.toFixed(1)} s, batch p50 ${ms(percentile(latencies, 0.5))} ms, ` +
      `p99 ${ms(percentile(latencies, 0.99))} ms, hot transactions ${hot.sum.toFixed(1)} s; ` +
      `outbox table ${(bytesPerEvent / 1024).toFixed(0)} KiB on disk per event; CPU ${cores(cpu0, cpu1)}`;
    await checkCount(bench, tf, 'outbox only');
    return { rowsPerS: ROWS / seconds, note };
  } finally {
    await tf.close();
  }
}
