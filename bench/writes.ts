import type { Tierflow } from '../src/index.ts';
import type { BarInput } from './bars.ts';
import { sleepUntil } from './wait.ts';

/** Rows cut into batches of `size`. */
export function batches(rows: BarInput[], size: number): BarInput[][] {
  const out: BarInput[][] = [];
  for (let offset = 0; offset < rows.length; offset += size) out.push(rows.slice(offset, offset + size));
  return out;
}

/** `list` cut into `n` consecutive parts of (nearly) equal length. */
export function segments<T>(list: T[], n: number): T[][] {
  const size = Math.ceil(list.length / n);
  return Array.from({ length: n }, (_, i) => list.slice(i * size, (i + 1) * size)).filter((s) => s.length);
}

/** Upserts the batches one after the other; returns each batch's latency in ms. */
export function writeSequentially(tf: Tierflow, list: BarInput[][]): Promise<number[]> {
  return writeConcurrently(tf, list, 1);
}

/**
 * Upserts the batches from `writers` concurrent writers, each taking the next batch in order when
 * its last one is acknowledged (as several feeds writing at once); returns each batch's latency in ms.
 */
export async function writeConcurrently(
  tf: Tierflow,
  list: BarInput[][],
  writers: number,
): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  const writer = async () => {
    while (next < list.length) {
      const batch = list[next++]!;
      const started = performance.now();
      await tf.repositories.marketData.upsert(batch as never);
      latencies.push(performance.now() - started);
    }
  };
  await Promise.all(Array.from({ length: writers }, writer));
  return latencies;
}

/**
 * Upserts batch `k` at `k / perSecond` seconds after the start (open loop by time), so a slow
 * write does not slow the schedule; returns each batch's latency in ms, from when it was due.
 * Each batch is made by `batchAt(k)` a few milliseconds before it is due, so the run holds no
 * backlog of input rows: a live heap of hundreds of thousands of rows makes V8's major
 * collections pause the writer for 5–10 ms, which a writer holding its current batch never pays.
 */
export async function writeOnSchedule(
  tf: Tierflow,
  count: number,
  perSecond: number,
  batchAt: (k: number) => BarInput[],
): Promise<number[]> {
  const LEAD_MS = 10;
  const t0 = performance.now();
  const pending = Array.from({ length: count }, async (_, k) => {
    const due = t0 + (k * 1000) / perSecond;
    await sleepUntil(due - LEAD_MS);
    const batch = batchAt(k);
    await sleepUntil(due);
    await tf.repositories.marketData.upsert(batch as never);
    return performance.now() - due;
  });
  return Promise.all(pending);
}

/** What writePaced saw: per batch, in ms (performance.now() for `acks`), and the run's length. */
export interface PacedWrites {
  /** When each batch was acknowledged. */
  acks: number[];
  /** How late each batch started after it was due (its predecessor still being written). */
  slips: number[];
  /** Each batch's latency, from when it started. */
  latencies: number[];
  /** Seconds from the first batch due to the last acknowledged. */
  seconds: number;
}

/**
 * One writer upserting batch `k` when it is due, `(k + 1) / perSecond` seconds after the call, or
 * when batch `k - 1` is acknowledged if that is later: open loop by time, but never two batches in
 * flight (writeOnSchedule starts every batch when due).
 */
export async function writePaced(tf: Tierflow, list: BarInput[][], perSecond: number): Promise<PacedWrites> {
  const acks: number[] = new Array(list.length);
  const slips: number[] = [];
  const latencies: number[] = [];
  const interval = 1000 / perSecond;
  const t0 = performance.now() + interval;
  for (let k = 0; k < list.length; k++) {
    const due = t0 + k * interval;
    await sleepUntil(due);
    const sent = performance.now();
    slips.push(sent - due);
    await tf.repositories.marketData.upsert(list[k]! as never);
    acks[k] = performance.now();
    latencies.push(acks[k]! - sent);
  }
  return { acks, slips, latencies, seconds: (performance.now() - t0) / 1000 };
}
