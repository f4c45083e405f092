import { DEFAULT_MAX_BATCH_ROWS } from '../../src/cold/cold-storage-consumer.ts';
import type { BarInput } from '../bars.ts';
import { syntheticBars } from '../bars.ts';
import { batches } from '../writes.ts';

/** The dual benchmark's sizes (BENCH_* overrides them for a short run), schemas and inputs. */
export const ROWS = Number(process.env.BENCH_ROWS ?? 300_000);
export const BATCH = 1_000;
/**
 * Batches written through each writer before it is measured (stage 1 running and caught up
 * afterwards, for the dual-write writer). With 10, the first dual-write segment was the slowest
 * of its run in four runs of four on 2026-11-30 (0.58–0.70 against 0.74–0.97 for the later ones):
 * the cold path's code (consumer, lake worker) was still being compiled and its caches filled
 * while it was measured, where the hot path had been warmed by everything before it.
 */
export const WARMUP_BATCHES = Number(process.env.BENCH_WARMUP_BATCHES ?? 100);
/** The throughput part alternates hot-only and dual-write segments this many times. */
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Concurrent writers in the throughput parts (each takes the next batch when its last is acknowledged). */
export const WRITERS = Number(process.env.BENCH_WRITERS ?? 1);
export const LAG_SECONDS = Number(process.env.BENCH_LAG_SECONDS ?? 15);
export const LAG_BATCHES_PER_S = 10;
/** The cold consumer's time trigger during the lag measurement (the throughput part uses its default). */
export const LAG_MAX_BATCH_MS = Number(process.env.BENCH_LAG_MAX_BATCH_MS ?? 250);
/** The cold consumer's maxBatchRows in every part: its default unless BENCH_COLD_BATCH_ROWS says otherwise. */
export const COLD_BATCH_ROWS = Number(process.env.BENCH_COLD_BATCH_ROWS ?? DEFAULT_MAX_BATCH_ROWS);
const SYMBOLS = 1_000;

export const REF_SCHEMA = 'bench_dual_ref';
export const DUAL_SCHEMA = 'bench_dual';
/** Diagnostic: the dual-write writer with stage 1 not running. */
export const OUTBOX_SCHEMA = 'bench_dual_outbox';
/** The writer here, stage 1 in a `tierflow serve` child process. */
export const SEP_SCHEMA = 'bench_dual_sep';
export const SCHEMAS = [REF_SCHEMA, DUAL_SCHEMA, OUTBOX_SCHEMA, SEP_SCHEMA];

/** The rows every part writes, in batches of BATCH, made once before the run. */
export interface DualInputs {
  /** Keys [0, ROWS): the measured rows of the throughput parts (each writer in its own schema). */
  main: BarInput[][];
  /** The cold-lag part's batches, one per 1/LAG_BATCHES_PER_S s. */
  lagRows: BarInput[][];
  /** WARMUP_BATCHES batches each writer writes before it is measured. */
  warmup: BarInput[][];
  lagBatchCount: number;
  /** The market_data rows of the reference, the dual-write and the outbox-only schemas at the end. */
  expectedHotRows: number;
}

/** `count` market_data bars with keys `first` … `first + count - 1` (1,000 symbols a minute). */
const makeBars = (first: number, count: number): BarInput[] =>
  syntheticBars({ first, count, symbols: SYMBOLS });

export function dualInputs(): DualInputs {
  const lagBatchCount = Math.round(LAG_SECONDS * LAG_BATCHES_PER_S);
  // Keys: [0, ROWS) for the throughput parts, then the lag part, then warm-up.
  const main = batches(makeBars(0, ROWS), BATCH);
  const lagRows = batches(makeBars(ROWS, lagBatchCount * BATCH), BATCH);
  const warmup = batches(makeBars(ROWS + lagBatchCount * BATCH, WARMUP_BATCHES * BATCH), BATCH);
  return { main, lagRows, warmup, lagBatchCount, expectedHotRows: ROWS + warmup.length * BATCH };
}
