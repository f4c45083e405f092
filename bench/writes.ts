import type { Tierflow } from '../src/index.ts';
import type { BarInput } from './bars.ts';

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
  const sleepUntil = async (at: number) => {
    const wait = at - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  };
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
