import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { tableFromIPC, tableToIPC } from 'apache-arrow';
import { allDatasets, findDataset, marketData } from '../src/datasets/index.ts';
import { ident } from '../src/hot/sql.ts';
import { createTierflow } from '../src/index.ts';
import type { Tierflow } from '../src/index.ts';
import { lakeTable } from '../src/lake/arrow-table.ts';
import { lakeBatchOf } from '../src/lake/lake-batch.ts';
import { createFileLog } from '../src/log/file/index.ts';
import type { Log } from '../src/log/log.ts';
import { decodeEvent, encodeEvent } from '../src/events/data-written-event.ts';
import { encodeJsonEvent } from '../src/events/event-json.ts';
import { opToWire } from '../src/events/wire-op.ts';
import { startStage2 } from '../src/wal/stage2.ts';
import { WAL_TOPIC } from '../src/wal/wal-entry.ts';
import type { BarInput } from './bars.ts';
import { syntheticBars } from './bars.ts';
import type { Figure } from './report.ts';
import { report } from './report.ts';
import { lakeMarketDataRows } from './lake-rows.ts';
import { marketDataEvent, marketDataRows } from './market-event.ts';
import { ms, percentile } from './stats.ts';
import { waitFor } from './wait.ts';
import { benchWorkDir } from './work-dir.ts';
import { SERVER_LOGS } from './log-backends.ts';
import { batches, writeConcurrently, writeOnSchedule } from './writes.ts';

/**
 * Stage 2's figures, against the same PostgreSQL in one run:
 *  - reference: the hot-only writer, market_data batches of 1,000 one after the other, measured
 *    before and after the WAL parts (the mean);
 *  - end to end per log backend (the file log, NATS JetStream and Kafka, those whose server
 *    answers; BENCH_WAL_ONLY=file,kafka picks some): the same rows appended through the WAL writer
 *    (ack 'wal'), timed until the hot processor has applied the last entry AND the cold processor
 *    has committed it to the lake;
 *  - acknowledgement latency at a steady 10,000 rows/s (10 batches a second, open loop by time)
 *    with ack 'wal' and with ack 'hot', on the file log, both processors running with their
 *    defaults, after 3 s at that rate as warm-up;
 *  - the entry codecs: columnar text (in use), columnar JSON (version 1) and Arrow IPC.
 */
const ROWS = Number(process.env.BENCH_ROWS ?? 600_000);
/**
 * End to end is measured with one writer (each batch appended after the last was acknowledged:
 * bound by append latency) and with several writing at once (as several feeds do: the log
 * group-commits them); the hot-only reference runs with the same writer counts.
 */
const WRITER_COUNTS = [1, Number(process.env.BENCH_WRITERS ?? 4)];
const BATCH = 1_000;
/**
 * 60 s at 10 batches a second: 600 acknowledgements, so p99 is the 6th slowest. Over 15 s (150)
 * it was the 2nd slowest, and one stray fsync moved it by 10 ms from run to run.
 */
const ACK_SECONDS = Number(process.env.BENCH_ACK_SECONDS ?? 60);
/** Seconds at the target rate before latencies count: the writer's code paths are compiled by then. */
const ACK_WARMUP_SECONDS = 3;
const SCHEMA = 'bench_wal';
const WAL_ONLY = process.env.BENCH_WAL_ONLY?.split(',');
const makeBars = (first: number, count: number): BarInput[] =>
  syntheticBars({ first, count, symbols: 1_000 });

type CodecCost = { encodeMs: number; decodeMs: number; bytes: number };

/**
 * The entry codecs per entry of 1,000 market_data rows: columnar text (version 2, in use),
 * columnar JSON (version 1, still read) and Arrow IPC. Each encodes and decodes `list.length`
 * different batches once each, as the WAL does, rather than one batch over and over, which lets
 * V8 reuse the strings it parsed last time and flatters JSON.
 */
function codecCost(list: BarInput[][]): Record<'text' | 'json' | 'arrow', CodecCost> {
  const events = list.map((batch) => marketDataEvent(marketDataRows(batch)));
  const measure = <T>(
    encode: (e: (typeof events)[number]) => T,
    decode: (t: T) => unknown,
    size: (t: T) => number,
  ) => {
    let started = performance.now();
    const encoded = events.map(encode);
    const encodeMs = (performance.now() - started) / events.length;
    started = performance.now();
    for (const e of encoded) decode(e);
    const decodeMs = (performance.now() - started) / events.length;
    return { encodeMs, decodeMs, bytes: size(encoded[0]!) };
  };
  const columnsOf = (e: (typeof events)[number]) => {
    const columns = Object.keys(e.rows[0]!);
    // Version 1 carries the operation's word ('upsert'), not the ChangeOp.
    return { ...e, op: opToWire(e.op), columns, values: columns.map((c) => e.rows.map((r) => r[c])) };
  };
  const lakeBatch = (e: (typeof events)[number]) =>
    lakeBatchOf(
      marketData as never,
      e.rows.map((row, i) => ({
        dataset: marketData.name,
        op: 'u' as const,
        key: {},
        after: row,
        eventTime: e.eventTimes[i]!,
        position: BigInt(i),
        source: 'bench',
        schemaVersion: 1,
      })),
    );
  // Warm-up: every path compiled before it is timed.
  for (let round = 0; round < 2; round++) {
    measure(
      (e) => encodeEvent(e, marketData as never),
      (b) => decodeEvent(b, findDataset),
      (b) => b.length,
    );
    measure(
      (e) => encodeJsonEvent(columnsOf(e)),
      (b) => decodeEvent(b, findDataset),
      (b) => b.length,
    );
  }
  return {
    text: measure(
      (e) => encodeEvent(e, marketData as never),
      (b) => decodeEvent(b, findDataset),
      (b) => b.length,
    ),
    json: measure(
      (e) => encodeJsonEvent(columnsOf(e)),
      (b) => decodeEvent(b, findDataset),
      (b) => b.length,
    ),
    arrow: measure(
      (e) => tableToIPC(lakeTable(marketData as never, lakeBatch(e), Date.now() * 1000), 'stream'),
      (b) => tableFromIPC(b).toArray(),
      (b) => b.length,
    ),
  };
}

interface Backend {
  name: string;
  open(): Promise<Log>;
  drop(): Promise<void>;
}

async function available(backend: Backend): Promise<string | undefined> {
  try {
    const log = await backend.open();
    await log.close();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

export async function run(): Promise<void> {
  const tmp = await benchWorkDir('wal');
  // Made afresh for each run (deterministic), so no run holds another's rows on the heap.
  const mainBatches = () => batches(makeBars(0, ROWS), BATCH);
  const ackBatch = (k: number) => makeBars(ROWS + k * BATCH, BATCH);
  const figures: Record<string, Figure> = {};
  const notes: string[] = [];
  const errors: string[] = [];
  const onError = (e: unknown) => errors.push((e as Error).message);
  let ref: Tierflow | undefined;
  const open: { close(): Promise<void> }[] = [];
  try {
    ref = await createTierflow({ mode: 'hot-only', schema: SCHEMA, migrate: false });
    const pool = ref.hot.pool;
    const dropSchemas = async () => {
      const { rows } = await pool.query<{ nspname: string }>(
        `SELECT nspname FROM pg_namespace WHERE nspname LIKE '${SCHEMA}%'`,
      );
      for (const r of rows) await pool.query(`DROP SCHEMA ${ident(r.nspname)} CASCADE`);
    };
    await dropSchemas();
    await ref.hot.migrate(allDatasets);
    console.log(
      `wal benchmark: ${ROWS.toLocaleString()} market_data rows in batches of ${BATCH.toLocaleString()}; ` +
        `ack latency over ${ACK_SECONDS} s at 10,000 rows/s (${ref.databaseSource} PostgreSQL, ${os.cpus().length} cores)`,
    );

    // The reference at each writer count: hot-only, the same batches, before and after the WAL runs.
    const refRates = new Map<number, number[]>(WRITER_COUNTS.map((w) => [w, []]));
    const hotOnly = async () => {
      for (const writers of WRITER_COUNTS) {
        await pool.query(`TRUNCATE ${ident(SCHEMA)}.${ident(marketData.name)}`);
        const list = mainBatches();
        const started = performance.now();
        await writeConcurrently(ref!, list, writers);
        refRates.get(writers)!.push(ROWS / ((performance.now() - started) / 1000));
      }
    };
    await hotOnly();

    // The file log and every server log the WAL takes (the servers' own bench prefix, dropped
    // before and after each run); one not reachable is noted, not measured.
    const backends: Backend[] = [
      {
        name: 'file',
        open: () => createFileLog(path.join(tmp, 'file-log')),
        drop: () => rm(path.join(tmp, 'file-log'), { recursive: true, force: true }),
      },
      ...SERVER_LOGS.filter((server) => server.name !== 'redis').map((server) => {
        const prefix = server.prefix('benchwal');
        return { name: server.name, open: () => server.open(prefix), drop: () => server.drop(prefix) };
      }),
    ].filter((b) => !WAL_ONLY || WAL_ONLY.includes(b.name));
    notes.push(
      'redis: not measured; the WAL refuses the Redis log (stream IDs exceed the 2^43 positions of its row sequences)',
    );
    const missing = new Map<string, string | undefined>();
    for (const [backend, writers] of backends.flatMap((b) => WRITER_COUNTS.map((w) => [b, w] as const))) {
      if (!missing.has(backend.name)) missing.set(backend.name, await available(backend));
      const reason = missing.get(backend.name);
      if (reason) {
        if (writers === WRITER_COUNTS[0])
          notes.push(`${backend.name}: not measured, the server is not reachable (${reason})`);
        continue;
      }
      await backend.drop();
      const log = await backend.open();
      open.push(log);
      const schema = `${SCHEMA}_${backend.name}_${writers}`;
      const tf = await createTierflow({
        databaseUrl: ref.databaseUrl,
        schema,
        mode: 'wal',
        log,
        onBackgroundError: onError,
      });
      open.push(tf);
      const lakeRoot = path.join(tmp, `lake-${backend.name}-${writers}`);
      const stage2 = await startStage2({ wal: tf.wal!, lakeRoot, maxBatchMs: 250, onError });
      open.push({ close: () => stage2.stop() });
      const list = mainBatches();
      const started = performance.now();
      await writeConcurrently(tf, list, writers);
      const appended = performance.now();
      const last = (await log.stats(WAL_TOPIC)).last!;
      const hotTimeoutMs = 300_000;
      await waitFor(
        () => tf.wal!.hotProcessor.appliedThrough === last,
        hotTimeoutMs,
        10,
        () => `wal bench: ${backend.name}: hot caught up within ${hotTimeoutMs} ms`,
      );
      const hotDone = performance.now();
      await stage2.waitCaughtUp(300_000);
      const done = performance.now();
      const seconds = (done - started) / 1000;
      figures[`wal_${backend.name}_${writers}w_end_to_end_rows_per_s`] = {
        value: ROWS / seconds,
        unit: 'rows/s',
        reference: `hot_only_${writers}w_rows_per_s`,
      };
      const hotRows = await tf.repositories.marketData.count();
      await stage2.stop();
      const lakeRows = await lakeMarketDataRows(lakeRoot);
      if (hotRows !== ROWS || lakeRows !== ROWS)
        throw new Error(`${backend.name}: ${ROWS} rows appended, ${hotRows} hot, ${lakeRows} in the lake`);
      notes.push(
        `${backend.name}, ${writers} writer${writers > 1 ? 's' : ''}: appends ${((appended - started) / 1000).toFixed(1)} s (${Math.round(ROWS / ((appended - started) / 1000)).toLocaleString()} rows/s, ack 'wal'), ` +
          `hot applied at ${((hotDone - started) / 1000).toFixed(1)} s, ` +
          `lake committed at ${((done - started) / 1000).toFixed(1)} s; ${ROWS.toLocaleString()} rows in both tiers`,
      );
      await tf.close();
      await log.close();
      open.length = 0;
      await backend.drop();
      // Verified: dropped now, so autovacuum does not work through it during the later runs.
      await pool.query(`DROP SCHEMA ${ident(schema)} CASCADE`);
    }

    // Acknowledgement latency at 10,000 rows/s, file log.
    for (const ack of ['wal', 'hot'] as const) {
      // The throughput runs above leave a full reference table for autovacuum and gigabytes of
      // dirty pages for the checkpointer, both of which would work during this measurement on the
      // disk the log fsyncs to: emptied and flushed first, so the latencies are this workload's.
      await pool.query(`TRUNCATE ${ident(SCHEMA)}.${ident(marketData.name)}`);
      await pool.query('CHECKPOINT');
      const dir = path.join(tmp, `ack-${ack}`);
      const log = await createFileLog(path.join(dir, 'log'));
      const tf = await createTierflow({
        databaseUrl: ref.databaseUrl,
        schema: `${SCHEMA}_ack_${ack}`,
        mode: 'wal',
        log,
        walAck: ack,
        onBackgroundError: onError,
      });
      // Stage 2 as shipped (the cold processor's defaults: 50,000 rows or 1 s a lake commit).
      const stage2 = await startStage2({ wal: tf.wal!, lakeRoot: path.join(dir, 'lake'), onError });
      await writeOnSchedule(tf, ACK_WARMUP_SECONDS * 10, 10, ackBatch);
      const latencies = await writeOnSchedule(tf, ACK_SECONDS * 10, 10, (k) =>
        ackBatch(ACK_WARMUP_SECONDS * 10 + k),
      );
      await stage2.waitCaughtUp(120_000);
      await stage2.stop();
      await tf.close();
      await log.close();
      figures[`ack_${ack}_p50_ms`] = { value: ms(percentile(latencies, 0.5)), unit: 'ms' };
      figures[`ack_${ack}_p99_ms`] = { value: ms(percentile(latencies, 0.99)), unit: 'ms' };
    }

    await hotOnly();
    for (const [writers, rates] of refRates) {
      figures[`hot_only_${writers}w_rows_per_s`] = { value: (rates[0]! + rates[1]!) / 2, unit: 'rows/s' };
      notes.unshift(
        `hot-only, ${writers} writer${writers > 1 ? 's' : ''}: ${rates.map((r) => Math.round(r).toLocaleString()).join(' and ')} rows/s (before and after; the reference is the mean)`,
      );
    }
    const codec = codecCost(batches(makeBars(0, 100 * BATCH), BATCH));
    const codecNote = (name: string, c: CodecCost) =>
      `${name} encode ${c.encodeMs.toFixed(2)} ms, decode ${c.decodeMs.toFixed(2)} ms, ${(c.bytes / 1024).toFixed(0)} KiB`;
    notes.push(
      `entry codecs, per entry of 1,000 market_data rows (100 different entries): ${codecNote('columnar text (in use)', codec.text)}; ` +
        `${codecNote('columnar JSON (version 1)', codec.json)}; ${codecNote('Arrow IPC', codec.arrow)}`,
    );
    const rates = WRITER_COUNTS.map(
      (w) => figures[`wal_file_${w}w_end_to_end_rows_per_s`]?.value ?? Number.NaN,
    );
    const fileRate = Math.max(...rates);
    notes.push(
      `done when: file log end to end ≥ 100,000 rows/s: ${rates.map((r, i) => `${Math.round(r).toLocaleString()} (${WRITER_COUNTS[i]} writer${WRITER_COUNTS[i]! > 1 ? 's' : ''})`).join(', ')} → ${fileRate >= 100_000 ? 'met' : 'NOT met'}; ` +
        `ack 'wal' p99 ≤ 10 ms at 10,000 rows/s: ${figures.ack_wal_p99_ms!.value} ms → ${figures.ack_wal_p99_ms!.value <= 10 ? 'met' : 'NOT met'}`,
    );
    if (errors.length) notes.push(`background errors (retried): ${errors.length}; first: ${errors[0]}`);
    report('wal', figures, notes);
    await dropSchemas();
  } finally {
    // Cleanup after a failure: reported, and the original error still propagates.
    for (const o of open.reverse())
      await o.close().catch((e: unknown) => console.error(`wal bench cleanup: ${(e as Error).message}`));
    await ref?.close();
    await rm(tmp, { recursive: true, force: true });
  }
}
