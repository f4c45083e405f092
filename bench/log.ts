import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Log } from '../src/log/log.ts';
import { createFileLog } from '../src/log/file/index.ts';
import type { Figure } from './report.ts';
import { report } from './report.ts';
import { percentile } from './stats.ts';
import { closedLoop, openLoop, withCpu } from './append-load.ts';
import type { Measured } from './kafka-bare.ts';
import { measureBare } from './kafka-bare.ts';
import type { BenchBackend } from './log-backends.ts';
import { logBackends } from './log-backends.ts';
import { benchWorkDir } from './work-dir.ts';

/**
 * Durable appends of 200-byte entries: throughput with 64 concurrent appenders (one entry per
 * append, and ten), and latency at a fixed 10,000 entries/s. The reference, in the same run on
 * the same disk: a plain loop of write + fdatasync in batches of 64 entries — what one fsync per
 * round of 64 appenders can do at best. A backend on a server whose client can be driven bare
 * (Kafka) is compared instead with that client's own producer loops on the same broker, the same
 * payloads, concurrency and pace, measured before and after it in the same run (kafka-bare.ts).
 * Every timed run starts on a topic that already exists (one append first), and every topic is
 * checked afterwards to hold exactly what was acknowledged.
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

/**
 * The bare loops of a backend, measured before and after it: the figures are the mean of the two,
 * and the notes say both.
 */
async function bareRounds(
  backend: BenchBackend,
  rounds: Map<string, Measured[]>,
  round: string,
  problems: string[],
): Promise<void> {
  for (const loop of backend.bare?.loops ?? []) {
    const measured = await measureBare(loop, (name) => backend.bare!.topic(`${name}-${round}`), {
      entries: backend.entries,
      payload: ENTRY,
      appenders: APPENDERS,
      rate: RATE,
      seconds: LATENCY_SECONDS,
      problems,
    });
    rounds.set(loop.name, [...(rounds.get(loop.name) ?? []), measured]);
  }
}

/** Warms the topic (created, connections open), then 64 appenders; the rate and whether all arrived. */
async function logThroughput(
  log: Log,
  topic: string,
  total: number,
  perAppend: number,
  problems: string[],
): Promise<{ rate: number; cpuPerThousand: number }> {
  const entries = Array.from({ length: perAppend }, () => ({ payload: ENTRY }));
  await log.append(topic, [{ payload: ENTRY }]);
  const { result, cpuMs } = await withCpu(() =>
    closedLoop(() => log.append(topic, entries), { total, perAppend, appenders: APPENDERS }),
  );
  const stored = (await log.stats(topic)).entries;
  if (stored !== result.issued + 1)
    problems.push(`${log.backend} ${topic}: ${result.issued + 1} acknowledged, ${stored} in the topic`);
  return { rate: result.rate, cpuPerThousand: (cpuMs / result.issued) * 1000 };
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

export async function run(): Promise<void> {
  const dir = await benchWorkDir('log');
  const figures: Record<string, Figure> = {};
  const notes: string[] = [];
  const problems: string[] = [];
  try {
    const total = Number(process.env.BENCH_LOG_ENTRIES ?? 200_000);
    const reference = await fsyncLoop(dir, total);
    figures.fsync_loop_entries_per_s = { value: reference.rate, unit: 'entries/s' };
    figures.fsync_loop_p50_ms = { value: reference.p50, unit: 'ms' };
    figures.fsync_loop_p99_ms = { value: reference.p99, unit: 'ms' };
    const only = process.env.BENCH_LOG_ONLY?.split(',');
    const backends: BenchBackend[] = [
      { name: 'file', open: () => createFileLog(path.join(dir, 'file-log')), entries: total },
      ...(await logBackends(only)),
    ].filter((b) => !only || only.includes(b.name));
    for (const backend of backends) {
      const rounds = new Map<string, Measured[]>();
      try {
        await bareRounds(backend, rounds, 'before', problems);
        const log = await backend.open();
        let single;
        try {
          single = await logThroughput(log, 'bench-single', backend.entries, 1, problems);
          figures[`${backend.name}_appends_per_s`] = { value: single.rate, unit: 'entries/s' };
          figures[`${backend.name}_batched10_appends_per_s`] = {
            value: (await logThroughput(log, 'bench-batched', backend.entries * 2, 10, problems)).rate,
            unit: 'entries/s',
            reference: 'fsync_loop_entries_per_s',
          };
          await log.append('bench-latency', [{ payload: ENTRY }]);
          const latency = await openLoop(
            () => log.append('bench-latency', [{ payload: ENTRY }]),
            RATE,
            LATENCY_SECONDS,
          );
          figures[`${backend.name}_p50_ms_at_10k`] = { value: latency.p50, unit: 'ms' };
          figures[`${backend.name}_p99_ms_at_10k`] = { value: latency.p99, unit: 'ms' };
        } finally {
          await log.close();
        }
        await bareRounds(backend, rounds, 'after', problems);
        compareWithBare(backend, rounds, single, figures, notes);
      } finally {
        await backend.cleanup?.();
      }
    }
    for (const skipped of logBackends.skipped) notes.push(skipped);
    notes.push(
      problems.length === 0
        ? 'every acknowledged entry was found in its topic afterwards'
        : `ENTRIES MISSING OR EXTRA: ${problems.join('; ')}`,
    );
    report('log', figures, notes);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The figures of a backend's bare loops, and the references of its own: the first bare loop if it
 * has any (the others' ratios go to the notes), else the fsync loop.
 */
function compareWithBare(
  backend: BenchBackend,
  rounds: Map<string, Measured[]>,
  single: { rate: number; cpuPerThousand: number },
  figures: Record<string, Figure>,
  notes: string[],
): void {
  const name = backend.name;
  const own = { rate: figures[`${name}_appends_per_s`]!, p99: figures[`${name}_p99_ms_at_10k`]! };
  own.rate.reference = 'fsync_loop_entries_per_s';
  own.p99.reference = 'fsync_loop_p99_ms';
  const loops = backend.bare?.loops ?? [];
  loops.forEach((loop, i) => {
    const measured = rounds.get(loop.name) ?? [];
    const prefix = `${name}_${loop.name}`;
    const rate = mean(measured.map((m) => m.rate));
    figures[`${prefix}_appends_per_s`] = { value: rate, unit: 'entries/s' };
    const paced = measured.every((m) => !Number.isNaN(m.p99));
    const p99 = paced ? mean(measured.map((m) => m.p99)) : undefined;
    if (p99 !== undefined) {
      figures[`${prefix}_p50_ms_at_10k`] = { value: mean(measured.map((m) => m.p50)), unit: 'ms' };
      figures[`${prefix}_p99_ms_at_10k`] = { value: p99, unit: 'ms' };
    }
    if (i === 0) {
      own.rate.reference = `${prefix}_appends_per_s`;
      if (p99 !== undefined) own.p99.reference = `${prefix}_p99_ms_at_10k`;
    }
    notes.push(
      `${prefix}${i === 0 ? ' (the reference)' : ''}: ${loop.description}: ` +
        `${measured.map((m) => fmt(m.rate)).join(' and ')} entries/s` +
        (p99 !== undefined
          ? `, p99 at 10k/s ${measured.map((m) => fmt(m.p99, 1)).join(' and ')} ms`
          : ', not paced at 10k/s (one request per entry: its backlog would only grow)') +
        ` (before and after ${name}; figures are the means); ` +
        `client CPU ${fmt(mean(measured.map((m) => m.cpuPerThousand)), 1)} ms per 1,000 entries; ` +
        `${name}/bare: appends/s ${fmt(single.rate / rate, 2)}` +
        (p99 !== undefined ? `, p99 ${fmt(own.p99.value / p99, 2)}` : ''),
    );
  });
  if (loops.length > 0)
    notes.push(
      `${name} through the Log: client CPU ${fmt(single.cpuPerThousand, 1)} ms per 1,000 entries. ` +
        `Goal ≥ 0.8 × the bare loop: appends/s ratio ≥ 0.8; p99 ratio ≤ 1.25 (latency: lower is better)`,
    );
}
