import { rm } from 'node:fs/promises';
import path from 'node:path';
import { allDatasets } from '../../src/datasets/index.ts';
import { ident } from '../../src/hot/sql.ts';
import { createTierflow } from '../../src/index.ts';
import type { Tierflow } from '../../src/index.ts';
import { createFileLog } from '../../src/log/file/index.ts';
import type { Metrics } from '../../src/observe/metrics.ts';
import type { Stage1 } from '../../src/pipeline/stage1.ts';
import { startStage1 } from '../../src/pipeline/stage1.ts';
import type { BarInput } from '../bars.ts';
import type { CpuSnapshot } from '../cpu.ts';
import { cpuSnapshot } from '../cpu.ts';
import { MemoryMetrics } from '../memory-metrics.ts';
import { benchWorkDir } from '../work-dir.ts';
import { writeConcurrently } from '../writes.ts';
import type { DualInputs } from './config.ts';
import { COLD_BATCH_ROWS, DUAL_SCHEMA, REF_SCHEMA, SCHEMAS, WRITERS, dualInputs } from './config.ts';

/** What every part of the dual benchmark shares: the inputs, the two writers, a work directory. */
export interface DualBench {
  readonly inputs: DualInputs;
  /** A fresh directory for the parts' logs and lakes. */
  readonly tmp: string;
  /** The hot-only writer (REF_SCHEMA): the reference. */
  readonly ref: Tierflow;
  /** The dual-write writer (DUAL_SCHEMA) whose stage 1 runs in this process. */
  readonly dual: Tierflow;
  readonly dualMetrics: MemoryMetrics;
  /** What stage 1 reported (it retries), for the report. */
  readonly errors: string[];
  onError(error: unknown): void;
  /** CPU use so far, of this process, the PostgreSQL server and the machine. */
  cpu(): CpuSnapshot;
}

/**
 * Runs `body` against fresh schemas (dropped first, and again afterwards) and a fresh work
 * directory (removed afterwards), whatever happens.
 */
export async function withDualBench<T>(body: (bench: DualBench) => Promise<T>): Promise<T> {
  const inputs = dualInputs();
  const tmp = await benchWorkDir('dual');
  let ref: Tierflow | undefined;
  let dual: Tierflow | undefined;
  try {
    ref = await createTierflow({ mode: 'hot-only', schema: REF_SCHEMA, migrate: false });
    const postgresPort = new URL(ref.databaseUrl).port || '5432';
    await dropSchemas(ref);
    await ref.hot.migrate(allDatasets);
    const dualMetrics = new MemoryMetrics();
    dual = await createDualWriter(ref, DUAL_SCHEMA, dualMetrics);
    const errors: string[] = [];
    return await body({
      inputs,
      tmp,
      ref,
      dual,
      dualMetrics,
      errors,
      onError: (e) => errors.push((e as Error).message),
      cpu: () => cpuSnapshot(postgresPort),
    });
  } finally {
    try {
      await dual?.close();
      if (ref) await dropSchemas(ref);
    } finally {
      await ref?.close();
      await rm(tmp, { recursive: true, force: true });
    }
  }
}

/** A dual-write Tierflow on the reference's database, in `schema`, reporting to `metrics`. */
export function createDualWriter(ref: Tierflow, schema: string, metrics: Metrics): Promise<Tierflow> {
  return createTierflow({ databaseUrl: ref.databaseUrl, mode: 'dual-write', schema, metrics });
}

async function dropSchemas(ref: Tierflow): Promise<void> {
  for (const schema of SCHEMAS) await ref.hot.pool.query(`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE`);
}

/** Upserts the batches from WRITERS concurrent writers; returns each batch's latency in ms. */
export function writeBatches(tf: Tierflow, list: BarInput[][]): Promise<number[]> {
  return writeConcurrently(tf, list, WRITERS);
}

/** Throws unless `tf`'s market_data holds every row the throughput parts wrote (warm-up included). */
export async function checkCount(bench: DualBench, tf: Tierflow, what: string): Promise<void> {
  const count = await tf.repositories.marketData.count();
  if (count !== bench.inputs.expectedHotRows)
    throw new Error(`${what}: expected ${bench.inputs.expectedHotRows} rows, found ${count}`);
}

/**
 * Runs `body` with stage 1 of the dual-write writer running in this process, on a fresh file log
 * and lake (directories `log` and `lake` under the work directory); stops it and closes the log
 * afterwards, whatever happens.
 */
export async function withStage1<T>(
  bench: DualBench,
  options: { log: string; lake: string; metrics: Metrics; logMetrics?: Metrics; maxBatchMs: number },
  body: (stage1: Stage1) => Promise<T>,
): Promise<T> {
  const log = await createFileLog(
    path.join(bench.tmp, options.log),
    options.logMetrics ? { metrics: options.logMetrics } : undefined,
  );
  try {
    const stage1 = await startStage1({
      tf: bench.dual,
      log,
      lakeRoot: path.join(bench.tmp, options.lake),
      metrics: options.metrics,
      maxBatchRows: COLD_BATCH_ROWS,
      maxBatchMs: options.maxBatchMs,
      onError: (e) => bench.onError(e),
    });
    try {
      return await body(stage1);
    } finally {
      await stage1.stop();
    }
  } finally {
    await log.close();
  }
}
