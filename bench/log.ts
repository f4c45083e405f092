import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Log } from '../src/log/log.ts';
import { createFileLog } from '../src/log/file/index.ts';
import type { Figure } from './report.ts';
import { report } from './report.ts';
import { percentile } from './stats.ts';
import { logBackends } from './log-backends.ts';
import { benchWorkDir } from './work-dir.ts';

/**
 * Durable appends of 200-byte entries: throughput with 64 concurrent appenders (one entry per
 * append, and ten), and latency at a fixed 10,000 entries/s. The reference, in the same run on
 * the same disk: a plain loop of write + fdatasync in batches of 64 entries — what one fsync per
 * round of 64 appenders can do at best.
 */
const ENTRY = Buffer.alloc(200, 0x61);
const APPENDERS = 64;
const RATE = 10_000;
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 5);

async function fsyncLoop(dir: string, entries: number): Promise<{ rate: number; p50: number; p99: number }> {
  const handle = await open(path.join(dir, 'reference.bin'), 'w');
  const batch = Buffer.concat(Array.from({ length: APPENDERS }, () => ENTRY));
  const latencies: number[] = [];
  const started = performance.now();
  let position = 0;
  for (let written = 0; written < entries; written += APPENDERS) {
    const t = performance.now();
    await handle.write(batch, 0, batch.length, position);
    position += batch.length;
    await handle.datasync();
    latencies.push(performance.now() - t);
  }
  const rate = entries / ((performance.now() - started) / 1000);
  await handle.close();
  return { rate, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) };
}

async function throughput(log: Log, topic: string, total: number, perAppend: number): Promise<number> {
  const entries = Array.from({ length: perAppend }, () => ({ payload: ENTRY }));
  let issued = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: APPENDERS }, async () => {
      while (issued < total) {
        issued += perAppend;
        await log.append(topic, entries);
      }
    }),
  );
  return issued / ((performance.now() - started) / 1000);
}

/** Open loop at a fixed rate: latency is measured from when an append was due, not when it was sent. */
async function latencyAtRate(log: Log, topic: string): Promise<{ p50: number; p99: number }> {
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const started = performance.now();
  const total = RATE * LATENCY_SECONDS;
  let issued = 0;
  while (issued < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * RATE));
    for (; issued < due; issued++) {
      const scheduled = started + (issued / RATE) * 1000;
      pending.push(
        log
          .append(topic, [{ payload: ENTRY }])
          .then(() => void latencies.push(performance.now() - scheduled)),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(pending);
  return { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) };
}

export async function run(): Promise<void> {
  const dir = await benchWorkDir('log');
  const figures: Record<string, Figure> = {};
  const notes: string[] = [];
  try {
    const total = Number(process.env.BENCH_LOG_ENTRIES ?? 200_000);
    const reference = await fsyncLoop(dir, total);
    figures.fsync_loop_entries_per_s = { value: reference.rate, unit: 'entries/s' };
    figures.fsync_loop_p50_ms = { value: reference.p50, unit: 'ms' };
    figures.fsync_loop_p99_ms = { value: reference.p99, unit: 'ms' };
    const only = process.env.BENCH_LOG_ONLY?.split(',');
    const backends = [
      { name: 'file', open: () => createFileLog(path.join(dir, 'file-log')), entries: total },
      ...(await logBackends()),
    ].filter((b) => !only || only.includes(b.name));
    for (const backend of backends) {
      const log = await backend.open();
      try {
        figures[`${backend.name}_appends_per_s`] = {
          value: await throughput(log, 'bench-single', backend.entries, 1),
          unit: 'entries/s',
          reference: 'fsync_loop_entries_per_s',
        };
        figures[`${backend.name}_batched10_appends_per_s`] = {
          value: await throughput(log, 'bench-batched', backend.entries * 2, 10),
          unit: 'entries/s',
          reference: 'fsync_loop_entries_per_s',
        };
        const { p50, p99 } = await latencyAtRate(log, 'bench-latency');
        figures[`${backend.name}_p50_ms_at_10k`] = { value: p50, unit: 'ms' };
        figures[`${backend.name}_p99_ms_at_10k`] = { value: p99, unit: 'ms', reference: 'fsync_loop_p99_ms' };
      } finally {
        await log.close();
        await backend.cleanup?.();
      }
    }
    for (const skipped of logBackends.skipped) notes.push(skipped);
    report('log', figures, notes);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
