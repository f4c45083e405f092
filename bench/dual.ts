import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { allDatasets, findDataset, marketData } from '../src/datasets/index.ts';
import { ident } from '../src/hot/sql.ts';
import { createTierflow } from '../src/index.ts';
import type { Tierflow } from '../src/index.ts';
import { prepareUpsert } from '../src/hot/hot-only-writer.ts';
import { openLakeQuery } from '../src/lake/duckdb-lake.ts';
import { createFileLog } from '../src/log/file/index.ts';
import type { Log } from '../src/log/log.ts';
import type { Labels, Metrics } from '../src/observe/metrics.ts';
import { METRIC } from '../src/observe/metrics.ts';
import { DEFAULT_MAX_BATCH_MS, DEFAULT_MAX_BATCH_ROWS } from '../src/cold/cold-storage-consumer.ts';
import { decodeEvent, encodeEvent } from '../src/events/data-written-event.ts';
import type { Stage1 } from '../src/pipeline/stage1.ts';
import { startStage1 } from '../src/pipeline/stage1.ts';
import type { BarInput } from './bars.ts';
import { syntheticBars } from './bars.ts';
import type { Figure } from './report.ts';
import { report } from './report.ts';
import { percentile } from './stats.ts';
import { benchWorkDir } from './work-dir.ts';
import { batches, segments, writeConcurrently } from './writes.ts';

/**
 * Stage 1's cost, in one run against the same PostgreSQL:
 *  1. reference: market_data upserts through the hot-only writer, batches of 1,000 fresh keys,
 *     one batch after the other, in ROUNDS segments interleaved with part 2's (stage 1 caught up
 *     and idle while a reference segment runs);
 *  2. the same rows through the dual-write writer with stage 1 running in this process (events
 *     appended to the file log inside each hot transaction, cold consumer → lake writes in a
 *     worker thread): write throughput with the consumer keeping up, per-segment ratios, and the
 *     time until stage 1 has caught up after the last write;
 *  2b. the same rows (fresh schema, fresh lake) through the dual-write writer with stage 1 in its
 *     own process (`tierflow serve --mode dual-write`): the writer has no log, so every event
 *     takes the outbox fallback and the relay; /health tells when it has caught up;
 *  3. cold lag at a steady 10,000 rows/s (10 batches of 1,000 per second, scheduled by time):
 *     for every batch, the time from its write acknowledgement to the lake commit holding its rows.
 * A diagnostic beside part 2: the dual-write writer with stage 1 not running (outbox_only): what
 * the outbox fallback costs inside the hot transaction alone.
 */
const ROWS = Number(process.env.BENCH_ROWS ?? 300_000);
const BATCH = 1_000;
/**
 * Batches written through each writer before it is measured (stage 1 running and caught up
 * afterwards, for the dual-write writer). With 10, the first dual-write segment was the slowest
 * of its run in four runs of four on 2026-11-30 (0.58–0.70 against 0.74–0.97 for the later ones):
 * the cold path's code (consumer, lake worker) was still being compiled and its caches filled
 * while it was measured, where the hot path had been warmed by everything before it.
 */
const WARMUP_BATCHES = Number(process.env.BENCH_WARMUP_BATCHES ?? 100);
/** Part 2 alternates hot-only and dual-write segments this many times. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Concurrent writers in the throughput parts (each takes the next batch when its last is acknowledged). */
const WRITERS = Number(process.env.BENCH_WRITERS ?? 1);
const writeBatches = (tf: Tierflow, list: BarInput[][]) => writeConcurrently(tf, list, WRITERS);
const LAG_SECONDS = Number(process.env.BENCH_LAG_SECONDS ?? 15);
const LAG_BATCHES_PER_S = 10;
/** The cold consumer's time trigger during the lag measurement (the throughput part uses its default). */
const LAG_MAX_BATCH_MS = Number(process.env.BENCH_LAG_MAX_BATCH_MS ?? 250);
/** The cold consumer's maxBatchRows in every part: its default unless BENCH_COLD_BATCH_ROWS says otherwise. */
const COLD_BATCH_ROWS = Number(process.env.BENCH_COLD_BATCH_ROWS ?? DEFAULT_MAX_BATCH_ROWS);
const SYMBOLS = 1_000;
const REF_SCHEMA = 'bench_dual_ref';
const DUAL_SCHEMA = 'bench_dual';
/** Diagnostic: the dual-write writer with stage 1 not running. */
const OUTBOX_SCHEMA = 'bench_dual_outbox';
/** Part 2b: the writer here, stage 1 in a `tierflow serve` child process. */
const SEP_SCHEMA = 'bench_dual_sep';
const SCHEMAS = [REF_SCHEMA, DUAL_SCHEMA, OUTBOX_SCHEMA, SEP_SCHEMA];
const TIERFLOW_BIN = fileURLToPath(new URL('../bin/tierflow.js', import.meta.url));
const SERVE_START_TIMEOUT_MS = 60_000;
const SERVE_STOP_TIMEOUT_MS = 60_000;
const CATCH_UP_TIMEOUT_MS = 120_000;
const HEALTH_POLL_MS = 50;

/** `count` market_data bars with keys `first` … `first + count - 1` (1,000 symbols a minute). */
const makeBars = (first: number, count: number): BarInput[] =>
  syntheticBars({ first, count, symbols: SYMBOLS });

/** Sums and counts of histogram observations, and a hook on gauges. */
class MemoryMetrics implements Metrics {
  readonly sums = new Map<string, { sum: number; count: number }>();
  onGauge: ((name: string, value: number) => void) | undefined;

  count(_name: string, _labels?: Labels, _value?: number): void {}

  observe(name: string, value: number, _labels?: Labels): void {
    const s = this.sums.get(name) ?? { sum: 0, count: 0 };
    s.sum += value;
    s.count += 1;
    this.sums.set(name, s);
  }

  gauge(name: string, value: number, _labels?: Labels): void {
    this.onGauge?.(name, value);
  }

  onScrape(): () => void {
    return () => {};
  }

  snapshot(): Map<string, { sum: number; count: number }> {
    return new Map([...this.sums].map(([k, v]) => [k, { ...v }]));
  }
}

/** Histogram sum and count between two snapshots. */
function delta(
  before: Map<string, { sum: number; count: number }>,
  after: Map<string, { sum: number; count: number }>,
  name: string,
): { sum: number; count: number } {
  const a = after.get(name) ?? { sum: 0, count: 0 };
  const b = before.get(name) ?? { sum: 0, count: 0 };
  return { sum: a.sum - b.sum, count: a.count - b.count };
}

interface CpuSnapshot {
  at: number;
  /** CPU-seconds of this process (user + system). */
  node: number;
  /** CPU-seconds of the PostgreSQL server (postmaster and children), NaN when not on this machine. */
  postgres: number;
  /** CPU-seconds the whole machine was busy. */
  machine: number;
  /** The event loop's active and idle time so far. */
  elu: ReturnType<typeof performance.eventLoopUtilization>;
}

/** USER_HZ: the unit of /proc/<pid>/stat times, 100 on every mainstream Linux. */
const USER_HZ = 100;

function procStat(pid: string): { comm: string; ppid: string; ticks: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    // After the command name: state, ppid, …; utime and stime are fields 14 and 15 of the line.
    return {
      comm: stat.slice(stat.indexOf('(') + 1, close),
      ppid: fields[1]!,
      ticks: Number(fields[11]) + Number(fields[12]),
    };
  } catch {
    return undefined; // The process ended while we looked.
  }
}

/** The CPU time of the local PostgreSQL listening on `port`: its postmaster and its children. */
function postgresCpuSeconds(port: string | undefined): number {
  if (process.platform !== 'linux' || !port) return Number.NaN;
  const stats = new Map<string, { comm: string; ppid: string; ticks: number }>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const stat = procStat(pid);
    if (stat?.comm === 'postgres') stats.set(pid, stat);
  }
  for (const [pid, stat] of stats) {
    if (stat.ppid !== '1' && stats.has(stat.ppid)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const i = args.indexOf('-p');
    if (!(i >= 0 && args[i + 1] === port) && !args.includes(`--port=${port}`)) continue;
    let ticks = stat.ticks;
    for (const child of stats.values()) if (child.ppid === pid) ticks += child.ticks;
    return ticks / USER_HZ;
  }
  return Number.NaN;
}

let postgresPort: string | undefined;

function cpuSnapshot(): CpuSnapshot {
  const usage = process.cpuUsage();
  const machine = os.cpus().reduce((s, c) => s + c.times.user + c.times.nice + c.times.sys + c.times.irq, 0);
  return {
    at: performance.now(),
    node: (usage.user + usage.system) / 1e6,
    postgres: postgresCpuSeconds(postgresPort),
    machine: machine / 1000,
    elu: performance.eventLoopUtilization(),
  };
}

/** CPU use between two snapshots, in cores (CPU-seconds per second), and the event loop's utilisation. */
function cores(a: CpuSnapshot, b: CpuSnapshot): string {
  const wall = (b.at - a.at) / 1000;
  const f = (x: number) => (Number.isNaN(x) ? 'n/a' : (x / wall).toFixed(2));
  const node = b.node - a.node;
  const pg = b.postgres - a.postgres;
  const machine = b.machine - a.machine;
  const elu = performance.eventLoopUtilization(b.elu, a.elu).utilization;
  return (
    `node ${f(node)} (event loop busy ${(elu * 100).toFixed(0)}%), postgres ${f(pg)}, ` +
    `other processes ${f(machine - node - (Number.isNaN(pg) ? 0 : pg))}, whole machine ${f(machine)} of ${os.cpus().length} cores`
  );
}

function ms(n: number): number {
  return Math.round(n * 10) / 10;
}

/** What one batch's DataWrittenEvent costs this process: JSON encoding (writer) and decoding (consumer). */
function eventCodecCost(batch: BarInput[]): string {
  const rows = prepareUpsert(marketData as never, batch).rows as Record<string, unknown>[];
  const event = () =>
    encodeEvent(
      {
        dataset: marketData.name,
        schemaVersion: marketData.version,
        op: 'u',
        rows,
        eventTimes: rows.map((r) => r[marketData.eventTime] as string),
        writtenAt: new Date().toISOString(),
      },
      marketData as never,
    );
  const n = 50;
  let payload = event();
  let started = performance.now();
  for (let i = 0; i < n; i++) payload = event();
  const encode = (performance.now() - started) / n;
  started = performance.now();
  for (let i = 0; i < n; i++) decodeEvent(payload, findDataset);
  const decode = (performance.now() - started) / n;
  return (
    `event of ${batch.length.toLocaleString()} rows: ${(payload.length / 1024).toFixed(0)} KiB (columnar text wire format), ` +
    `encode ${encode.toFixed(1)} ms (writer, inside the hot transaction), decode ${decode.toFixed(1)} ms (cold consumer)`
  );
}

/** CPU-seconds one process has used so far, NaN when it cannot be read (not Linux, or it ended). */
function processCpuSeconds(pid: number | undefined): number {
  if (process.platform !== 'linux' || pid === undefined) return Number.NaN;
  const stat = procStat(String(pid));
  return stat ? stat.ticks / USER_HZ : Number.NaN;
}

/** A `tierflow serve` child process. */
interface ServeProcess {
  readonly child: ChildProcess;
  /** The HTTP port, from the first line it prints; rejects if it exits or prints something else first. */
  readonly port: Promise<number>;
  /** Resolves once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** What it printed so far, stdout and stderr interleaved by line. */
  output(): string[];
  /** Its stderr lines (stage 1 reports its errors there). */
  errors(): string[];
  running(): boolean;
}

function spawnServe(args: string[]): ServeProcess {
  const child = spawn(process.execPath, [TIERFLOW_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const errors: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const port = new Promise<number>((resolve, reject) => {
    let first = true;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      output.push(line);
      if (!first) return;
      first = false;
      const match = /^tierflow serve: dual-write mode, http:\/\/[^/\s]+:(\d+)\/metrics/.exec(line);
      if (match) resolve(Number(match[1]));
      else reject(new Error(`tierflow serve: unexpected first line: ${line}`));
    });
    child.once('error', reject);
    void exited.then(({ code, signal }) =>
      reject(
        new Error(
          `tierflow serve exited (code ${code}, signal ${signal}) before it was ready:\n${output.join('\n')}`,
        ),
      ),
    );
  });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    output.push(line);
    errors.push(line);
  });
  return {
    child,
    port,
    exited,
    output: () => output,
    errors: () => errors,
    running: () => child.exitCode === null && child.signalCode === null,
  };
}

/** Rejects after `ms` with `message`, unless `promise` settles first. */
async function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

interface ServeHealth {
  caughtUp?: boolean;
  outboxBacklog?: number;
  coldBacklog?: number;
}

async function serveHealth(serve: ServeProcess, port: number): Promise<ServeHealth> {
  if (!serve.running()) throw new Error(`tierflow serve exited early:\n${serve.output().join('\n')}`);
  // 503 (a breaker open) still carries the JSON status.
  const response = await fetch(`http://127.0.0.1:${port}/health`);
  return (await response.json()) as ServeHealth;
}

export async function run(): Promise<void> {
  const lagBatchCount = Math.round(LAG_SECONDS * LAG_BATCHES_PER_S);
  // Keys: [0, ROWS) for parts 1 and 2 (each in its own schema), then the lag part, then warm-up.
  const main = batches(makeBars(0, ROWS), BATCH);
  const lagRows = batches(makeBars(ROWS, lagBatchCount * BATCH), BATCH);
  const warmup = batches(makeBars(ROWS + lagBatchCount * BATCH, WARMUP_BATCHES * BATCH), BATCH);
  const expectedHotRows = ROWS + warmup.length * BATCH;

  const tmp = await benchWorkDir('dual');
  const figures: Record<string, Figure> = {};
  const notes: string[] = [];
  const errors: string[] = [];
  const onError = (e: unknown) => errors.push((e as Error).message);
  const dualMetrics = new MemoryMetrics();
  const outboxMetrics = new MemoryMetrics();

  let ref: Tierflow | undefined;
  let dual: Tierflow | undefined;
  let outboxOnly: Tierflow | undefined;
  let sep: Tierflow | undefined;
  let serve: ServeProcess | undefined;
  let stage1: Stage1 | undefined;
  let log: Log | undefined;
  const stopStage1 = async () => {
    try {
      await stage1?.stop();
    } finally {
      stage1 = undefined;
      await log?.close();
      log = undefined;
    }
  };
  const checkCount = async (tf: Tierflow, what: string) => {
    const count = await tf.repositories.marketData.count();
    if (count !== expectedHotRows)
      throw new Error(`${what}: expected ${expectedHotRows} rows, found ${count}`);
  };

  try {
    ref = await createTierflow({ mode: 'hot-only', schema: REF_SCHEMA, migrate: false });
    postgresPort = new URL(ref.databaseUrl).port || '5432';
    const pool = ref.hot.pool;
    for (const schema of SCHEMAS) await pool.query(`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE`);
    await ref.hot.migrate(allDatasets);
    dual = await createTierflow({
      databaseUrl: ref.databaseUrl,
      mode: 'dual-write',
      schema: DUAL_SCHEMA,
      metrics: dualMetrics,
    });
    outboxOnly = await createTierflow({
      databaseUrl: ref.databaseUrl,
      mode: 'dual-write',
      schema: OUTBOX_SCHEMA,
      metrics: outboxMetrics,
    });
    console.log(
      `dual benchmark: ${ROWS.toLocaleString()} market_data rows in batches of ${BATCH.toLocaleString()}` +
        `${WRITERS > 1 ? ` from ${WRITERS} concurrent writers (BENCH_WRITERS)` : ''}, ` +
        `then ${LAG_SECONDS} s at ${(LAG_BATCHES_PER_S * BATCH).toLocaleString()} rows/s ` +
        `(${ref.databaseSource} PostgreSQL, ${os.cpus().length} cores)`,
    );

    // 1. Reference: hot-only, in segments interleaved with the dual-write segments of part 2, so
    // both see the same machine (this 2-core VM drifts by ±20% within a minute).
    const refLatencies: number[] = [];
    let refSeconds = 0;
    let outboxRate = Number.NaN;
    await ref.hot.pool.query(`TRUNCATE ${ident(REF_SCHEMA)}.${ident(marketData.name)}`);
    await writeBatches(ref, warmup);
    const hotOnlySegment = async (segment: BarInput[][]): Promise<number> => {
      const started = performance.now();
      refLatencies.push(...(await writeBatches(ref!, segment)));
      const seconds = (performance.now() - started) / 1000;
      refSeconds += seconds;
      return seconds;
    };

    // Diagnostic: the dual-write writer without stage 1 (the outbox fills, nobody drains it), to
    // split the cost of the outbox in the hot transaction from the cost of stage 1 running beside.
    {
      await writeBatches(outboxOnly, warmup);
      const m0 = outboxMetrics.snapshot();
      const cpu0 = cpuSnapshot();
      const started = performance.now();
      const latencies = await writeBatches(outboxOnly, main);
      const seconds = (performance.now() - started) / 1000;
      const cpu1 = cpuSnapshot();
      const hot = delta(m0, outboxMetrics.snapshot(), METRIC.hotWriteLatency);
      outboxRate = ROWS / seconds;
      const { rows } = await pool.query<{ bytes: string }>(
        `SELECT pg_total_relation_size('${ident(OUTBOX_SCHEMA)}.tierflow_outbox')::text AS bytes`,
      );
      notes.push(
        `outbox only (dual-write writer, stage 1 not running): ${seconds.toFixed(1)} s, batch p50 ${ms(percentile(latencies, 0.5))} ms, ` +
          `p99 ${ms(percentile(latencies, 0.99))} ms, hot transactions ${hot.sum.toFixed(1)} s; ` +
          `outbox table ${(Number(rows[0]!.bytes) / (ROWS / BATCH + warmup.length) / 1024).toFixed(0)} KiB on disk per event; CPU ${cores(cpu0, cpu1)}`,
      );
      notes.push(eventCodecCost(main[0]!));
      await checkCount(outboxOnly, 'outbox only');
      await outboxOnly.close();
      outboxOnly = undefined;
    }

    // 2. Dual write with stage 1 running, until stage 1 has caught up.
    log = await createFileLog(path.join(tmp, 'log'), { metrics: dualMetrics });
    stage1 = await startStage1({
      tf: dual,
      log,
      lakeRoot: path.join(tmp, 'lake'),
      metrics: dualMetrics,
      maxBatchRows: COLD_BATCH_ROWS,
      maxBatchMs: DEFAULT_MAX_BATCH_MS,
      onError,
    });
    await writeBatches(dual, warmup);
    await stage1.waitCaughtUp(60_000);
    const committedBefore = stage1.consumer.rowsCommitted;
    const metrics0 = dualMetrics.snapshot();
    const dualLatencies: number[] = [];
    const pairRatios: number[] = [];
    let writeSeconds = 0;
    let cpu0 = cpuSnapshot();
    let metrics1 = metrics0;
    for (const segment of segments(main, ROUNDS)) {
      // Stage 1 idle (caught up) while the reference runs; then the same number of rows through it.
      await stage1.waitCaughtUp(60_000);
      const hotSeconds = await hotOnlySegment(segment);
      cpu0 = cpuSnapshot();
      const segmentStarted = performance.now();
      dualLatencies.push(...(await writeBatches(dual, segment)));
      const seconds = (performance.now() - segmentStarted) / 1000;
      metrics1 = dualMetrics.snapshot();
      writeSeconds += seconds;
      pairRatios.push(hotSeconds / seconds);
    }
    const writtenAt = performance.now();
    const cpu1 = cpuSnapshot();
    const atWritesDone = await stage1.status();
    const committedAtWritesDone = stage1.consumer.rowsCommitted - committedBefore;
    await stage1.waitCaughtUp(120_000);
    const caughtUpAt = performance.now();
    const cpu2 = cpuSnapshot();
    const metrics2 = dualMetrics.snapshot();
    const committed = stage1.consumer.rowsCommitted - committedBefore;
    await stopStage1();
    if (committed < ROWS) throw new Error(`dual write: ${ROWS} rows written, ${committed} in the lake`);
    await checkCount(dual, 'dual write');
    // The writes, segment by segment, then the catch-up after the last one.
    const totalSeconds = writeSeconds + (caughtUpAt - writtenAt) / 1000;
    await checkCount(ref, 'hot-only');
    const lakeWrites = delta(metrics0, metrics2, METRIC.coldWriteLatency);
    const appends = delta(metrics0, metrics2, METRIC.walAppendLatency);
    const publishes = delta(metrics0, metrics2, METRIC.eventPublishLatency);
    const hotWrites = delta(metrics0, metrics1, METRIC.hotWriteLatency);
    notes.push(
      `dual write: writes ${writeSeconds.toFixed(1)} s, then ${(totalSeconds - writeSeconds).toFixed(1)} s until caught up; ` +
        `at the last ack the lake held ${committedAtWritesDone.toLocaleString()} of ${ROWS.toLocaleString()} rows ` +
        `(outbox backlog ${atWritesDone.outboxBacklog} events, log backlog ${atWritesDone.coldBacklog} events)`,
      `dual write against hot-only, segment by segment (${ROUNDS} pairs of ${(ROWS / ROUNDS).toLocaleString()} rows): ratios ${pairRatios.map((r) => r.toFixed(2)).join(', ')}`,
      `dual write CPU while writing (last segment): ${cores(cpu0, cpu1)}; while catching up: ${cores(cpu1, cpu2)}`,
      `dual write, time inside the process: hot transactions ${hotWrites.sum.toFixed(1)} s (${hotWrites.count} batches); ` +
        `relay ${publishes.count} log appends ${publishes.sum.toFixed(1)} s (file log append to fsync ${appends.sum.toFixed(1)} s); ` +
        `cold consumer ${lakeWrites.count} lake commits ${lakeWrites.sum.toFixed(1)} s (maxBatchRows ${COLD_BATCH_ROWS.toLocaleString()}, maxBatchMs ${DEFAULT_MAX_BATCH_MS.toLocaleString()})`,
    );

    // 2b. Dual write with stage 1 in its own process (`tierflow serve --mode dual-write`), until
    // its /health says caught up. A fresh schema and lake, and no warm-up: the lake must hold
    // exactly these ROWS rows afterwards.
    const sepMetrics = new MemoryMetrics();
    sep = await createTierflow({
      databaseUrl: ref.databaseUrl,
      mode: 'dual-write',
      schema: SEP_SCHEMA,
      metrics: sepMetrics,
    });
    const sepLake = path.join(tmp, 'sep-lake');
    const spawnedAt = performance.now();
    serve = spawnServe([
      '--database-url',
      sep.databaseUrl,
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
      sepLake,
    ]);
    const port = await within(
      serve.port,
      SERVE_START_TIMEOUT_MS,
      `tierflow serve did not start within ${SERVE_START_TIMEOUT_MS} ms`,
    );
    const serveStartSeconds = (performance.now() - spawnedAt) / 1000;
    const sepCpu0 = cpuSnapshot();
    const serveCpu0 = processCpuSeconds(serve.child.pid);
    const sepStarted = performance.now();
    const sepLatencies = await writeBatches(sep, main);
    const sepWrittenAt = performance.now();
    const sepCpu1 = cpuSnapshot();
    const serveCpu1 = processCpuSeconds(serve.child.pid);
    const sepHot = delta(new Map(), sepMetrics.snapshot(), METRIC.hotWriteLatency);
    const sepAtWritesDone = await serveHealth(serve, port);
    let sepHealth = sepAtWritesDone;
    const catchUpDeadline = sepWrittenAt + CATCH_UP_TIMEOUT_MS;
    while (sepHealth.caughtUp !== true) {
      if (performance.now() > catchUpDeadline)
        throw new Error(
          `dual write (stage 1 in its own process): not caught up within ${CATCH_UP_TIMEOUT_MS} ms: ${JSON.stringify(sepHealth)}`,
        );
      await new Promise((resolve) => setTimeout(resolve, HEALTH_POLL_MS));
      sepHealth = await serveHealth(serve, port);
    }
    const sepCaughtUpAt = performance.now();
    const sepCpu2 = cpuSnapshot();
    const serveCpu2 = processCpuSeconds(serve.child.pid);
    // SIGINT: the child stops its HTTP server, relay and consumer gracefully, then exits.
    serve.child.kill('SIGINT');
    const serveExit = await within(
      serve.exited,
      SERVE_STOP_TIMEOUT_MS,
      `tierflow serve did not stop within ${SERVE_STOP_TIMEOUT_MS} ms of SIGINT`,
    );
    if (serveExit.code !== 0 || !serve.output().includes('tierflow serve: stopped'))
      throw new Error(
        `tierflow serve did not stop cleanly (code ${serveExit.code}, signal ${serveExit.signal}):\n${serve.output().join('\n')}`,
      );
    const sepErrors = serve.errors();
    serve = undefined;
    {
      await using lake = await openLakeQuery(sepLake, allDatasets);
      const inLake = Number((await lake.query('SELECT count(*) AS n FROM market_data'))[0]!.n);
      if (inLake !== ROWS)
        throw new Error(
          `dual write (stage 1 in its own process): ${ROWS} rows written, ${inLake} in the lake`,
        );
    }
    const sepHotRows = await sep.repositories.marketData.count();
    if (sepHotRows !== ROWS)
      throw new Error(
        `dual write (stage 1 in its own process): expected ${ROWS} hot rows, found ${sepHotRows}`,
      );
    await sep.close();
    sep = undefined;
    const sepWriteSeconds = (sepWrittenAt - sepStarted) / 1000;
    const sepTotalSeconds = (sepCaughtUpAt - sepStarted) / 1000;
    const serveCores = (from: number, to: number, a: CpuSnapshot, b: CpuSnapshot) =>
      Number.isNaN(to - from) ? 'n/a' : ((to - from) / ((b.at - a.at) / 1000)).toFixed(2);
    notes.push(
      `dual write, stage 1 in its own process (tierflow serve --mode dual-write, ready ${serveStartSeconds.toFixed(1)} s after spawn; ` +
        `no warm-up): writer only ${Math.round(ROWS / sepWriteSeconds).toLocaleString()} rows/s (writes ${sepWriteSeconds.toFixed(1)} s, ` +
        `batch p50 ${ms(percentile(sepLatencies, 0.5))} ms, hot transactions ${sepHot.sum.toFixed(1)} s), ` +
        `then ${(sepTotalSeconds - sepWriteSeconds).toFixed(1)} s until caught up ` +
        `(at the last ack: outbox backlog ${sepAtWritesDone.outboxBacklog} events, log backlog ${sepAtWritesDone.coldBacklog} events; ` +
        `/health polled every ${HEALTH_POLL_MS} ms); lake verified: ${ROWS.toLocaleString()} rows`,
      `dual write, stage 1 in its own process, CPU while writing: ${cores(sepCpu0, sepCpu1)} ` +
        `(of which tierflow serve ${serveCores(serveCpu0, serveCpu1, sepCpu0, sepCpu1)}); ` +
        `while catching up: ${cores(sepCpu1, sepCpu2)} (tierflow serve ${serveCores(serveCpu1, serveCpu2, sepCpu1, sepCpu2)})`,
    );
    if (sepErrors.length)
      notes.push(`tierflow serve reported ${sepErrors.length} errors on stderr; first: ${sepErrors[0]}`);

    // 3. Cold lag at a steady 10,000 rows/s.
    const lagMetrics = new MemoryMetrics();
    log = await createFileLog(path.join(tmp, 'log-lag'));
    stage1 = await startStage1({
      tf: dual,
      log,
      lakeRoot: path.join(tmp, 'lake-lag'),
      metrics: lagMetrics,
      maxBatchRows: COLD_BATCH_ROWS,
      maxBatchMs: LAG_MAX_BATCH_MS,
      onError,
    });
    const consumer = stage1.consumer;
    const acks: number[] = new Array(lagBatchCount);
    const commits: number[] = new Array(lagBatchCount);
    let nextCommit = 0;
    /** Gives every batch whose rows are all committed (rowsCommitted counts in write order) its commit time. */
    const sawCommits = () => {
      const now = performance.now();
      while (nextCommit < lagBatchCount && consumer.rowsCommitted >= (nextCommit + 1) * BATCH)
        commits[nextCommit++] = now;
    };
    // The consumer sets the cold-lag gauge right after it counts a commit; polling is the fallback.
    lagMetrics.onGauge = (name) => {
      if (name === METRIC.coldLag) sawCommits();
    };
    const poller = setInterval(sawCommits, 5);
    let slips: number[] = [];
    const lagLatencies: number[] = [];
    const lagCpu0 = cpuSnapshot();
    let lagSeconds: number;
    try {
      const interval = 1000 / LAG_BATCHES_PER_S;
      const t0 = performance.now() + interval;
      for (let k = 0; k < lagBatchCount; k++) {
        const due = t0 + k * interval;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        const sent = performance.now();
        slips.push(sent - due);
        await dual.repositories.marketData.upsert(lagRows[k]! as never);
        acks[k] = performance.now();
        lagLatencies.push(acks[k]! - sent);
      }
      lagSeconds = (performance.now() - t0) / 1000;
      await stage1.waitCaughtUp(60_000);
      sawCommits();
    } finally {
      clearInterval(poller);
    }
    const lagCpu1 = cpuSnapshot();
    const lakeCommits = lagMetrics.sums.get(METRIC.coldWriteLatency) ?? { sum: 0, count: 0 };
    await stopStage1();
    if (nextCommit < lagBatchCount)
      throw new Error(`cold lag: ${nextCommit} of ${lagBatchCount} batches seen committed`);
    const lags = acks.map((ack, k) => Math.max(0, commits[k]! - ack) / 1000);
    slips = slips.filter((s) => s > 1);

    figures.hot_only_rows_per_s = { value: ROWS / refSeconds, unit: 'rows/s' };
    figures.dual_write_rows_per_s = {
      value: ROWS / totalSeconds,
      unit: 'rows/s',
      reference: 'hot_only_rows_per_s',
    };
    figures.dual_write_only_rows_per_s = {
      value: ROWS / writeSeconds,
      unit: 'rows/s',
      reference: 'hot_only_rows_per_s',
    };
    figures.outbox_only_rows_per_s = { value: outboxRate, unit: 'rows/s', reference: 'hot_only_rows_per_s' };
    figures.dual_write_separate_rows_per_s = {
      value: ROWS / sepTotalSeconds,
      unit: 'rows/s',
      reference: 'hot_only_rows_per_s',
    };
    figures.hot_only_batch_p50_ms = { value: ms(percentile(refLatencies, 0.5)), unit: 'ms' };
    figures.hot_only_batch_p99_ms = { value: ms(percentile(refLatencies, 0.99)), unit: 'ms' };
    figures.dual_write_batch_p50_ms = {
      value: ms(percentile(dualLatencies, 0.5)),
      unit: 'ms',
      reference: 'hot_only_batch_p50_ms',
    };
    figures.dual_write_batch_p99_ms = {
      value: ms(percentile(dualLatencies, 0.99)),
      unit: 'ms',
      reference: 'hot_only_batch_p99_ms',
    };
    figures.dual_write_separate_batch_p99_ms = {
      value: ms(percentile(sepLatencies, 0.99)),
      unit: 'ms',
      reference: 'hot_only_batch_p99_ms',
    };
    figures.cold_lag_rows_per_s = { value: (lagBatchCount * BATCH) / lagSeconds, unit: 'rows/s' };
    figures.cold_lag_p50_s = { value: percentile(lags, 0.5), unit: 's' };
    figures.cold_lag_p99_s = { value: percentile(lags, 0.99), unit: 's' };
    figures.cold_lag_max_s = { value: Math.max(...lags), unit: 's' };

    // The done-when figure: write throughput with the cold consumer running and keeping up. The
    // end-to-end figure (until the lake holds the last row) adds the consumer's time trigger once.
    const ratio = figures.dual_write_only_rows_per_s.value / figures.hot_only_rows_per_s.value;
    const endToEnd = figures.dual_write_rows_per_s.value / figures.hot_only_rows_per_s.value;
    const sepRatio = figures.dual_write_separate_rows_per_s.value / figures.hot_only_rows_per_s.value;
    notes.push(
      `cold lag: ${lagBatchCount} batches of ${BATCH.toLocaleString()} scheduled every ${1000 / LAG_BATCHES_PER_S} ms ` +
        `(one writer, open loop by time; ${slips.length} batches started > 1 ms late` +
        `${slips.length ? `, at most ${Math.max(...slips).toFixed(0)} ms` : ''}; batch write p50 ` +
        `${ms(percentile(lagLatencies, 0.5))} ms, p99 ${ms(percentile(lagLatencies, 0.99))} ms); ` +
        `lag = write ack → lake commit holding the batch's rows; cold consumer maxBatchMs ${LAG_MAX_BATCH_MS} ms ` +
        `(BENCH_LAG_MAX_BATCH_MS; the throughput part uses ${DEFAULT_MAX_BATCH_MS.toLocaleString()} ms), maxBatchRows ${COLD_BATCH_ROWS.toLocaleString()}; ` +
        `${lakeCommits.count} lake commits, mean ${((lakeCommits.sum / Math.max(1, lakeCommits.count)) * 1000).toFixed(0)} ms each; ` +
        `CPU ${cores(lagCpu0, lagCpu1)}`,
      `done when: dual write ≥ 0.8 × hot-only: ${ratio.toFixed(3)} → ${ratio >= 0.8 ? 'met' : 'NOT met'} ` +
        `(until caught up: ${endToEnd.toFixed(3)}; segment ratios ${[...pairRatios]
          .sort((a, b) => a - b)
          .map((r) => r.toFixed(2))
          .join(' ≤ ')}) ` +
        `(stage 1 in its own process: ${sepRatio.toFixed(3)} → ${sepRatio >= 0.8 ? 'met' : 'NOT met'}); ` +
        `cold lag p99 ≤ 2 s: ${figures.cold_lag_p99_s.value.toFixed(3)} s → ${figures.cold_lag_p99_s.value <= 2 ? 'met' : 'NOT met'}`,
    );
    if (errors.length) notes.push(`stage 1 reported ${errors.length} errors (retried); first: ${errors[0]}`);
    report('dual', figures, notes);
  } finally {
    try {
      await stopStage1();
    } finally {
      try {
        if (serve?.running()) {
          serve.child.kill('SIGKILL');
          await within(serve.exited, 10_000, 'tierflow serve did not exit after SIGKILL').catch(() => {});
        }
        await sep?.close();
        await outboxOnly?.close();
        await dual?.close();
        if (ref)
          for (const schema of SCHEMAS)
            await ref.hot.pool.query(`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE`);
      } finally {
        await ref?.close();
        await rm(tmp, { recursive: true, force: true });
      }
    }
  }
}
