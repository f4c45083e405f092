import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allDatasets, marketData } from '../../src/datasets/index.ts';
import { ident } from '../../src/hot/sql.ts';
import { KafkaBroker } from '../../src/kafka-broker/index.ts';
import { openLakeQuery } from '../../src/lake/duckdb-lake.ts';
import { reconcile } from '../../src/lake/reconcile.ts';
import { LogUnavailableError, UnknownTopicError } from '../../src/log/errors.ts';
import { createKafkaLog } from '../../src/log/kafka/index.ts';
import type { LogEntry, Position } from '../../src/log/log.ts';
import type { DualStorageWriter } from '../../src/pipeline/dual-storage-writer.ts';
import { startStage1 } from '../../src/pipeline/stage1.ts';
import type { Tierflow } from '../../src/tierflow.ts';
import { createTierflow } from '../../src/tierflow.ts';
import { startStage2 } from '../../src/wal/stage2.ts';
import { WAL_TOPIC } from '../../src/wal/wal-entry.ts';
import { dropSchema, useTierflow } from '../support/hot.ts';
import { SHARED_JAR_CACHE, freePortPair, ownBrokerAvailable } from '../support/kafka-broker.ts';
import { until } from '../support/until.ts';

const text = new TextEncoder();
const untext = new TextDecoder();

/** After a refused append or write, this long before the next: a bound on a busy loop, not a wait for luck. */
const PAUSE_AFTER_FAILURE_MS = 50;
const pause = (ms = PAUSE_AFTER_FAILURE_MS) => new Promise((resolve) => setTimeout(resolve, ms));

/** One bar per write, each of its own key: writer `w`'s `i`th. */
const bar = (w: number, i: number) => ({
  symbol: `KF${w}`,
  interval: '1m',
  bucket_start: new Date(Date.UTC(2024, 2, 4) + i * 60_000),
  open: 1,
  high: 2,
  low: 1,
  close: 2,
  volume: i,
  source: 'kafka-faults',
});

/** Writers that keep writing until stopped; each remembers what was acknowledged and what was refused. */
class Writers {
  readonly ok: number[][];
  readonly failed: { i: number; error: unknown }[][];
  /** The longest any write took to be acknowledged or refused. */
  slowestMs = 0;
  private stopped = false;
  private readonly loops: Promise<void>[];

  constructor(
    count: number,
    write: (w: number, i: number) => Promise<unknown>,
    options: {
      onSuccess?: (w: number, i: number) => void;
      /** A pause after each acknowledged write: a steady stream that leaves the broker's restart some CPU. */
      paceMs?: number;
    } = {},
  ) {
    this.ok = Array.from({ length: count }, () => []);
    this.failed = Array.from({ length: count }, () => []);
    this.loops = Array.from({ length: count }, async (_, w) => {
      for (let i = 0; !this.stopped; i++) {
        const started = performance.now();
        try {
          await write(w, i);
          this.slowestMs = Math.max(this.slowestMs, performance.now() - started);
          this.ok[w]!.push(i);
          options.onSuccess?.(w, i);
          if (options.paceMs) await pause(options.paceMs);
        } catch (error) {
          this.slowestMs = Math.max(this.slowestMs, performance.now() - started);
          this.failed[w]!.push({ i, error });
          await pause();
        }
      }
    });
  }

  get acknowledged(): number {
    return this.ok.reduce((n, o) => n + o.length, 0);
  }

  get refused(): number {
    return this.failed.reduce((n, f) => n + f.length, 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }
}

/**
 * kill -9 of the Kafka broker under load, and a start again, round after round, with the same Log
 * and Tierflow objects throughout: nothing acknowledged is lost or doubled, appends refused while
 * it is down fail with LogUnavailableError, stage 1 writers go on through the outbox, stage 2
 * writers get the typed error, and everything recovers once the broker is back. The broker is the
 * test's own (its own directory and ports, the shared jars): the one on 9092 is never touched.
 */
describe('the Kafka log when the broker is killed and started again', () => {
  const ctx = useTierflow({ mode: 'hot-only' });
  const dirs: string[] = [];
  let broker: KafkaBroker | undefined;
  let available = false;

  beforeAll(async () => {
    available = await ownBrokerAvailable();
    if (!available) return;
    const dir = await mkdtemp(path.join(tmpdir(), 'tierflow-kafka-faults-'));
    dirs.push(dir);
    broker = new KafkaBroker({ dir: path.join(dir, 'broker'), port: await freePortPair() }, SHARED_JAR_CACHE);
    await broker.start();
  }, 120_000);

  afterAll(async () => {
    await broker?.stop();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  const scratch = async (label: string) => {
    const dir = await mkdtemp(path.join(tmpdir(), `tierflow-kafka-faults-${label}-`));
    dirs.push(dir);
    return dir;
  };

  /**
   * One round: once `progressed` holds (the log works again), kill -9 the broker while the writers
   * run, wait until `noticed` holds (the outage reached them), check `whileDown`, start it again.
   */
  const round = async (opts: {
    progressed: () => Promise<boolean> | boolean;
    noticed: () => Promise<boolean> | boolean;
    whileDown?: () => Promise<void>;
  }) => {
    await until(opts.progressed, 'progress with the broker up', 60_000);
    await broker!.kill();
    await until(opts.noticed, 'the outage to reach the writers', 30_000);
    await opts.whileDown?.();
    await broker!.start();
  };

  it('loses no acknowledged append over 10 kill -9 rounds; refused appends fail with LogUnavailableError', async (t) => {
    if (!available) return t.skip();
    const ROUNDS = 10;
    const APPENDERS = 4;
    const topic = 'faults';
    const log = await createKafkaLog(broker!.url, { prefix: `tf-faults-${randomBytes(3).toString('hex')}.` });
    try {
      // Each appender appends one entry at a time, so its acknowledged entries have an order to keep.
      const positions = new Map<string, Position>();
      const appenders = new Writers(APPENDERS, async (w, i) => {
        const [position] = await log.append(topic, [{ key: `a${w}`, payload: text.encode(`${w}:${i}`) }]);
        positions.set(`${w}:${i}`, position!);
      });

      // A following reader through the outages too: it may fail, retriably and typed, and a
      // consumer then reads on from the last entry it saw, as tierflow's consumers do.
      const followed: LogEntry[] = [];
      const readerFailures: unknown[] = [];
      const stopReading = new AbortController();
      const reading = (async () => {
        while (!stopReading.signal.aborted) {
          const last = followed.at(-1)?.position;
          try {
            for await (const batch of log.read(topic, {
              from: last === undefined ? 'earliest' : { after: last },
              signal: stopReading.signal,
            }))
              followed.push(...batch);
          } catch (error) {
            if (stopReading.signal.aborted) break;
            // Before the first append there is no topic to read yet.
            if (!(error instanceof UnknownTopicError && followed.length === 0)) readerFailures.push(error);
            await pause();
          }
        }
      })();

      for (let r = 0; r < ROUNDS; r++) {
        const acknowledged = appenders.ok.map((o) => o.length);
        const refused = appenders.refused;
        await round({
          // Every appender is acknowledged again since the last restart.
          progressed: () => appenders.ok.every((o, w) => o.length >= acknowledged[w]! + 5),
          noticed: () => appenders.refused > refused,
        });
      }
      await until(() => appenders.ok.every((o) => o.length >= 50), 'appends after the last restart', 60_000);
      await appenders.stop();

      // No append hangs: a broker that is gone fails it within the client's timeouts (10 s a request).
      expect(appenders.slowestMs).toBeLessThan(30_000);
      const refusals = appenders.failed.flat().map((f) => f.error);
      expect(refusals.length).toBeGreaterThanOrEqual(ROUNDS);
      for (const error of refusals) {
        expect(error).toBeInstanceOf(LogUnavailableError);
        expect(error).toMatchObject({ code: 'LOG_UNAVAILABLE', retriable: true });
      }

      const stored: LogEntry[] = [];
      for await (const batch of log.read(topic, { from: 'earliest', follow: false })) stored.push(...batch);
      const byAppender: number[][] = Array.from({ length: APPENDERS }, () => []);
      for (const entry of stored) {
        const [w, i] = untext.decode(entry.payload).split(':').map(Number) as [number, number];
        byAppender[w]!.push(i);
        // An acknowledged append is where its acknowledgement said.
        const at = positions.get(`${w}:${i}`);
        if (at !== undefined) expect(entry.position).toBe(at);
      }
      for (let w = 0; w < APPENDERS; w++) {
        const read = byAppender[w]!;
        const ok = new Set(appenders.ok[w]);
        const maybe = new Set(appenders.failed[w]!.map((f) => f.i));
        // In order, each once; every acknowledged append there; anything else only a refused one
        // whose outcome was unknown (the broker died with the request in flight).
        expect(read).toEqual([...read].sort((a, b) => a - b));
        expect(new Set(read).size).toBe(read.length);
        expect(appenders.ok[w]!.filter((i) => !read.includes(i))).toEqual([]);
        expect(read.filter((i) => !ok.has(i) && !maybe.has(i))).toEqual([]);
      }

      // The following reader saw the same entries, once each, in the same order.
      await until(() => followed.length >= stored.length, 'the following reader to catch up', 30_000);
      stopReading.abort();
      await reading;
      expect(followed.map((e) => e.position)).toEqual(stored.map((e) => e.position));
      for (const error of readerFailures)
        expect(error).toMatchObject({ code: 'LOG_UNAVAILABLE', retriable: true });
    } finally {
      await log.close();
    }
  }, 240_000);

  /** The market_data keys (writer, index) in the hot tier of `schema`. */
  const hotKeys = async (tf: Tierflow, schema: string): Promise<Set<string>> => {
    const { rows } = await tf.hot.pool.query<{ symbol: string; ms: string }>(
      `SELECT symbol, (extract(epoch FROM bucket_start) * 1000)::bigint AS ms FROM ${ident(schema)}.market_data`,
    );
    const base = Date.UTC(2024, 2, 4);
    return new Set(rows.map((r) => `${r.symbol.slice(2)}:${(Number(r.ms) - base) / 60_000}`));
  };

  // Stages 1 and 2 run side by side, through the same outages, over fewer rounds: each round costs
  // a broker restart (6-8 s on a quiet 2-core machine, twice that under load), the 10 rounds above
  // already show the log itself recovering every time, and three in a row show that both stages
  // recover again and again with the same objects, not once by luck.
  const STAGE_ROUNDS = 3;

  it('stage 1 writes go on through the outbox and stage 2 writes fail typed while the broker is down; both recover, reconciled clean', async (t) => {
    if (!available) return t.skip();
    const dir = await scratch('stages');
    const tag = randomBytes(3).toString('hex');
    const s1 = {
      schema: `${ctx.schema}_s1`,
      lakeRoot: path.join(dir, 'lake1'),
      log: await createKafkaLog(broker!.url, { prefix: `tf-faults-s1-${tag}.` }),
    };
    const s2 = {
      schema: `${ctx.schema}_s2`,
      lakeRoot: path.join(dir, 'lake2'),
      log: await createKafkaLog(broker!.url, { prefix: `tf-faults-s2-${tag}.` }),
    };
    const tf1 = await createTierflow({ databaseUrl: ctx.url, schema: s1.schema, mode: 'dual-write' });
    const tf2 = await createTierflow({ databaseUrl: ctx.url, schema: s2.schema, mode: 'wal', log: s2.log });
    try {
      const stage1 = await startStage1({ tf: tf1, log: s1.log, lakeRoot: s1.lakeRoot, maxBatchMs: 20 });
      const stage2 = await startStage2({ wal: tf2.wal!, lakeRoot: s2.lakeRoot, maxBatchMs: 20 });
      const fastPath = (tf1.writer as DualStorageWriter).logBreaker;
      let down = false;
      let writtenWhileDown = 0;
      const writers1 = new Writers(2, (w, i) => tf1.repositories.marketData.upsert([bar(w, i)]), {
        onSuccess: () => {
          if (down) writtenWhileDown++;
        },
        paceMs: 10,
      });
      const writers2 = new Writers(2, (w, i) => tf2.repositories.marketData.upsert([bar(w, i)]), {
        paceMs: 10,
      });

      for (let r = 0; r < STAGE_ROUNDS; r++) {
        const before1 = writers1.acknowledged;
        const before2 = writers2.ok.map((o) => o.length);
        const refused2 = writers2.refused;
        await round({
          // Stage 1: writes go on, the relay has carried what the last outage left in the outbox,
          // and events take the fast path again. Stage 2: every writer is acknowledged again.
          progressed: async () =>
            writers1.acknowledged >= before1 + 20 &&
            fastPath.state === 'closed' &&
            (await stage1.relay.backlog()) === 0 &&
            writers2.ok.every((o, w) => o.length >= before2[w]! + 10),
          noticed: async () => {
            down = true;
            return (await stage1.relay.backlog()) > 0 && writers2.refused > refused2;
          },
          // Stage 1 writes are acknowledged with the broker down: their events wait in the outbox.
          whileDown: async () => {
            const counted = writtenWhileDown;
            await until(
              () => writtenWhileDown >= counted + 10,
              'stage 1 writes while the broker is down',
              30_000,
            );
            down = false;
          },
        });
      }
      await until(
        async () => (await stage1.relay.backlog()) === 0 && writers2.acknowledged >= 20 * (STAGE_ROUNDS + 1),
        'both stages after the last restart',
        60_000,
      );
      await Promise.all([writers1.stop(), writers2.stop()]);

      // Neither stage's writes hang while the broker is gone or coming back.
      expect(writers1.slowestMs).toBeLessThan(30_000);
      expect(writers2.slowestMs).toBeLessThan(30_000);
      // Stage 1: never a refused write.
      expect(writers1.refused).toBe(0);
      expect(writtenWhileDown).toBeGreaterThanOrEqual(10 * STAGE_ROUNDS);
      // Stage 2: refused writes, each with the log's typed, retriable error.
      const refusals = writers2.failed.flat().map((f) => f.error);
      expect(refusals.length).toBeGreaterThanOrEqual(STAGE_ROUNDS);
      for (const error of refusals) {
        expect(error).toBeInstanceOf(LogUnavailableError);
        expect(error).toMatchObject({ code: 'LOG_UNAVAILABLE', retriable: true });
      }

      // Every consumer of these same tierflows catches up: no process was restarted.
      await stage1.waitCaughtUp(60_000);
      const last = (await s2.log.stats(WAL_TOPIC)).last!;
      await until(
        () => tf2.wal!.hotProcessor.appliedThrough === last,
        'the hot processor to catch up',
        60_000,
      );
      await stage2.waitCaughtUp(60_000);
      await Promise.all([stage1.stop(), stage2.stop()]);

      expect(await tf1.repositories.marketData.count()).toBe(writers1.acknowledged);
      // Every acknowledged stage 2 write is in the hot tier; anything else there is a refused write
      // whose entry the broker took before it died (its outcome was unknown to the writer).
      const hot = await hotKeys(tf2, s2.schema);
      const acknowledged = writers2.ok.flatMap((o, w) => o.map((i) => `${w}:${i}`));
      const refused = new Set(writers2.failed.flatMap((f, w) => f.map(({ i }) => `${w}:${i}`)));
      expect(acknowledged.filter((k) => !hot.has(k))).toEqual([]);
      expect([...hot].filter((k) => !acknowledged.includes(k) && !refused.has(k))).toEqual([]);

      for (const [tf, stage] of [
        [tf1, s1],
        [tf2, s2],
      ] as const) {
        await using lake = await openLakeQuery(stage.lakeRoot, allDatasets);
        const report = await reconcile({
          pool: tf.hot.pool,
          schema: stage.schema,
          lake,
          datasets: [marketData],
        });
        expect(report.clean).toBe(true);
      }
      await using lake1 = await openLakeQuery(s1.lakeRoot, allDatasets);
      expect((await lake1.query('SELECT count(*) AS n FROM market_data'))[0]).toEqual({
        n: BigInt(writers1.acknowledged),
      });
    } finally {
      await tf1.close();
      await tf2.close();
      await dropSchema(ctx.url, s1.schema);
      await dropSchema(ctx.url, s2.schema);
      await s1.log.close();
      await s2.log.close();
    }
  }, 240_000);
});
