import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { allDatasets, findDataset, marketData } from '../../src/datasets/index.ts';
import { Repository } from '../../src/hot/repository.ts';
import { openLakeQuery } from '../../src/lake/duckdb-lake.ts';
import { LakeWriter } from '../../src/lake/lake-writer.ts';
import { createFileLog } from '../../src/log/file/index.ts';
import type { Log, LogEntry } from '../../src/log/log.ts';
import { METRIC } from '../../src/observe/metrics.ts';
import { RecordedMetrics } from '../../src/observe/recorded-metrics.ts';
import { ColdStorageConsumer } from '../../src/cold/cold-storage-consumer.ts';
import type { CommitStatus } from '../../src/cold/cold-storage-consumer.ts';
import { CommitReceipts } from '../../src/pipeline/commit-receipts.ts';
import type { EventAppender } from '../../src/pipeline/dual-storage-writer.ts';
import { DualStorageWriter } from '../../src/pipeline/dual-storage-writer.ts';
import { LakeEventSink } from '../../src/cold/event-sink.ts';
import { OutboxRelay } from '../../src/pipeline/outbox-relay.ts';
import { ensureStage1Schema } from '../../src/pipeline/stage1-schema.ts';
import { collect } from '../log/conformance.ts';
import { useTierflow } from '../support/hot.ts';
import { until } from '../support/until.ts';

const TOPIC = 'events';
const bar = (symbol: string, minute: number, close = 10) => ({
  symbol,
  interval: '1m',
  bucket_start: new Date(Date.UTC(2024, 2, 4, 14, minute)),
  open: close,
  high: close,
  low: close,
  close,
  volume: minute,
  source: 'test',
});

describe('stage 1 fast path: events appended inside the hot transaction, kept only if it commits', () => {
  const ctx = useTierflow();
  const advisoryKey = 4242;
  let dir: string;
  let log: Log;
  let lake: LakeWriter;
  let receipts: CommitReceipts;
  let metrics: RecordedMetrics;

  beforeAll(async () => {
    await ensureStage1Schema(ctx.tf.hot.pool, ctx.schema);
    receipts = new CommitReceipts(ctx.tf.hot.pool, ctx.schema);
    // A check PostgreSQL makes at COMMIT, after the event is in the log: symbol FAIL is refused
    // then, and symbol SLOW waits for an advisory lock the test holds.
    await ctx.tf.hot.pool.query(`
      CREATE FUNCTION "${ctx.schema}".at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.symbol = 'FAIL' THEN RAISE EXCEPTION 'refused at commit'; END IF;
        IF NEW.symbol = 'SLOW' THEN PERFORM pg_advisory_xact_lock(${advisoryKey}); END IF;
        RETURN NULL;
      END $$`);
    await ctx.tf.hot.pool.query(`
      CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT OR UPDATE ON "${ctx.schema}".market_data
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "${ctx.schema}".at_commit()`);
  });
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tierflow-receipts-'));
    log = await createFileLog(path.join(dir, 'log'));
    lake = await LakeWriter.open(path.join(dir, 'lake'));
    metrics = new RecordedMetrics();
    await ctx.tf.hot.pool.query(`TRUNCATE "${ctx.schema}".market_data, "${ctx.schema}".tierflow_outbox`);
  });
  afterEach(async () => {
    await lake.close();
    await log.close();
    await rm(dir, { recursive: true, force: true });
  });

  // outboxBusyMs 0: every write tries the fast path, unless a test says otherwise.
  const writerOn = (appender: EventAppender, outboxBusyMs = 0) => {
    const writer = new DualStorageWriter(ctx.tf.hot, {
      topic: TOPIC,
      metrics,
      logBreaker: { consecutiveFailures: 100 },
      outboxBusyMs,
    });
    writer.publishTo(appender);
    return { writer, bars: new Repository(marketData, writer, ctx.tf.hot) };
  };
  const consumerOf = (commits = receipts) =>
    new ColdStorageConsumer(log, new LakeEventSink(lake, findDataset), {
      topic: TOPIC,
      commits,
      maxBatchMs: 10,
      metrics,
    });
  const lakeRows = async (sql: string) => {
    await using query = await openLakeQuery(path.join(dir, 'lake'), allDatasets);
    return query.query(sql);
  };
  /** How each event in the log got there: appended by its writer, or moved from the outbox. */
  const pathOf = (entries: readonly LogEntry[]) =>
    entries.map((e) => (e.headers.xid === undefined ? 'outbox' : 'direct'));
  const published = (result: string) =>
    metrics
      .take()
      .filter(([, name, , labels]) => name === METRIC.eventsPublished && labels?.result === result).length;

  it('never writes to the lake the event of a transaction that failed at COMMIT', async () => {
    const { bars } = writerOn(log);
    await expect(bars.upsert([bar('FAIL', 0)])).rejects.toMatchObject({ code: 'HOT_WRITE' });
    await bars.upsert([bar('OK', 1)]);
    const entries = await collect(log, TOPIC, 'earliest');
    // Both events reached the log inside their transactions, each tagged with its transaction id.
    expect(entries.map((e) => e.headers.rows)).toEqual(['1', '1']);
    expect(entries.every((e) => /^\d+$/.test(e.headers.xid ?? ''))).toBe(true);
    const statuses = await receipts.resolve(entries.map((e) => e.headers.xid!));
    expect([...statuses.values()]).toEqual(['aborted', 'committed']);

    const consumer = consumerOf();
    consumer.start();
    await until(async () => (await log.lag('cold-storage', TOPIC)) === 0, 'the consumer to commit');
    await consumer.stop();
    expect(await lakeRows(`SELECT symbol FROM market_data_history`)).toEqual([{ symbol: 'OK' }]);
    const discarded = metrics.take().filter(([, name]) => name === METRIC.eventsDiscarded);
    expect(discarded).toEqual([['count', METRIC.eventsDiscarded, 1, { reason: 'rolled_back' }]]);
    // The committed event's receipt is cleared once it is in the lake.
    expect(await receipts.count()).toBe(0);
  });

  it('clears the receipts before it commits its position, so a clearing that fails is not lost', async () => {
    const { bars } = writerOn(log);
    await bars.upsert([bar('KEEP', 3)]);
    await bars.upsert([bar('KEEP', 4)]);
    expect(await receipts.count()).toBe(2);
    let failures = 0;
    const failingOnce = {
      resolve: (xids: readonly string[]) => receipts.resolve(xids),
      forget: async (xids: readonly string[]) => {
        if (failures++ === 0) throw Object.assign(new Error('the connection was lost'), { code: '08006' });
        return receipts.forget(xids);
      },
    };
    const errors: unknown[] = [];
    const consumer = new ColdStorageConsumer(log, new LakeEventSink(lake, findDataset), {
      topic: TOPIC,
      commits: failingOnce as CommitReceipts,
      maxBatchMs: 10,
      backoffMs: 10,
      onError: (error) => errors.push(error),
    });
    consumer.start();
    await until(async () => (await log.lag('cold-storage', TOPIC)) === 0, 'the consumer to commit');
    // Stopped as soon as the group is committed: nothing is left to clear later, in memory.
    await consumer.stop();
    expect(errors).toMatchObject([{ message: 'the connection was lost' }]);
    expect(await receipts.count()).toBe(0);
    // The batch went round again after the failure; the lake holds each row once.
    expect(await lakeRows(`SELECT bucket_start FROM market_data_history ORDER BY 1`)).toHaveLength(2);
  });

  it('keeps a superseded receipt until the group is past events logged well after it, however old it is', async () => {
    const table = `"${ctx.schema}".tierflow_commit_receipts`;
    await ctx.tf.hot.pool.query(`DELETE FROM ${table}`);
    // Receipts superseded 8 days and 1 hour ago (never seen again: their ghost appends never landed).
    await ctx.tf.hot.pool.query(
      `INSERT INTO ${table} (xid, superseded, created_at)
       VALUES ('1001', true, now() - interval '8 days'), ('1002', true, now() - interval '1 hour')`,
    );
    const remaining = async () =>
      (await ctx.tf.hot.pool.query(`SELECT xid::text FROM ${table} ORDER BY xid`)).rows.map((r) => r.xid);
    // A consumer nine days behind: both could still have ghost copies ahead of it.
    await receipts.expireSuperseded(Date.now() - 9 * 24 * 3600_000);
    expect(await remaining()).toEqual(['1001', '1002']);
    // Past events logged 7 days ago: the 8-day-old one goes.
    await receipts.expireSuperseded(Date.now() - 7 * 24 * 3600_000);
    expect(await remaining()).toEqual(['1002']);
    // The consumer commits an event logged now: the other one goes too (made over 10 minutes before).
    const { bars } = writerOn(log);
    await bars.upsert([bar('NOW', 5)]);
    const consumer = consumerOf();
    consumer.start();
    await until(async () => (await log.lag('cold-storage', TOPIC)) === 0, 'the consumer to commit');
    await consumer.stop();
    expect(await remaining()).toEqual([]);
  });

  it('waits for a transaction whose event is logged but whose COMMIT is still under way', async () => {
    const { bars } = writerOn(log);
    const holder = new pg.Client({ connectionString: ctx.url });
    await holder.connect();
    await holder.query(`SELECT pg_advisory_lock(${advisoryKey})`);
    const seen: CommitStatus[] = [];
    const watching = {
      resolve: async (xids: readonly string[]) => {
        const statuses = await receipts.resolve(xids);
        seen.push(...statuses.values());
        return statuses;
      },
      forget: (xids: readonly string[]) => receipts.forget(xids),
    };
    const consumer = consumerOf(watching as CommitReceipts);
    consumer.start();
    try {
      const slow = bars.upsert([bar('SLOW', 2)]);
      await until(() => seen.includes('pending'), 'the consumer to find the transaction in progress');
      expect(consumer.rowsCommitted).toBe(0);
      await holder.query(`SELECT pg_advisory_unlock(${advisoryKey})`);
      await slow;
      await until(() => consumer.rowsCommitted === 1, 'the row to reach the lake once committed');
    } finally {
      await holder.end();
      await consumer.stop();
    }
    expect(seen.at(-1)).toBe('committed');
    expect(await lakeRows(`SELECT symbol FROM market_data`)).toEqual([{ symbol: 'SLOW' }]);
  });

  it('holds a relay back while a fast-path transaction is open, so its event stays ahead of what the relay moves', async () => {
    const { bars } = writerOn(log);
    const outboxOnly = new Repository(marketData, new DualStorageWriter(ctx.tf.hot), ctx.tf.hot);
    const relay = new OutboxRelay(ctx.tf.hot.pool, ctx.schema, log, { topic: TOPIC });
    const holder = new pg.Client({ connectionString: ctx.url });
    await holder.connect();
    await holder.query(`SELECT pg_advisory_lock(${advisoryKey})`);
    try {
      // Appended, receipt taken, then held at COMMIT (the trigger waits for the test's lock).
      const slow = bars.upsert([bar('SLOW', 6)]);
      const logged = async () =>
        (await log.topics()).includes(TOPIC) ? (await collect(log, TOPIC, 'earliest')).length : 0;
      await until(async () => (await logged()) === 1, 'the event to be appended');
      // A write of another key through the outbox commits meanwhile; the relay finds it.
      await outboxOnly.upsert([bar('OTHER', 7)]);
      // The relay waits for the relay lock a moment, then leaves the batch for its next try.
      expect(await relay.drainOnce()).toBe(0);
      expect(await logged()).toBe(1);
      await holder.query(`SELECT pg_advisory_unlock(${advisoryKey})`);
      await slow;
      expect(await relay.drainOnce()).toBe(1);
    } finally {
      await holder.end();
    }
    const entries = await collect(log, TOPIC, 'earliest');
    expect(pathOf(entries)).toEqual(['direct', 'outbox']);
  });

  it('after a write finds older events in the outbox, sends the next ones straight there for a while', async () => {
    let appends = 0;
    const counting: EventAppender = {
      append: (topic, entries) => {
        appends++;
        return log.append(topic, entries);
      },
    };
    const { bars } = writerOn(counting, 60_000);
    const outboxOnly = new Repository(marketData, new DualStorageWriter(ctx.tf.hot), ctx.tf.hot);
    const relay = new OutboxRelay(ctx.tf.hot.pool, ctx.schema, log, { topic: TOPIC });
    await outboxOnly.upsert([bar('A', 8)]);
    // Finds the outbox busy: its copy in the log is superseded, and the event queues behind.
    await bars.upsert([bar('B', 9)]);
    expect(appends).toBe(1);
    // Straight to the outbox, without another copy in the log.
    await bars.upsert([bar('C', 10)]);
    expect(appends).toBe(1);
    expect(published('outbox')).toBe(2);
    expect(await relay.drain()).toBe(3);
    const entries = await collect(log, TOPIC, 'earliest');
    expect(pathOf(entries)).toEqual(['direct', 'outbox', 'outbox', 'outbox']);
  });

  it('stops trying a failing log while its breaker is open, and returns to it after a successful probe', async () => {
    let up = false;
    let attempts = 0;
    const appender: EventAppender = {
      append: async (topic, entries) => {
        attempts++;
        if (!up) throw Object.assign(new Error('the log is unreachable'), { code: 'ECONNREFUSED' });
        return log.append(topic, entries);
      },
    };
    const writer = new DualStorageWriter(ctx.tf.hot, {
      topic: TOPIC,
      metrics,
      logBreaker: { consecutiveFailures: 2, halfOpenAfterMs: 200 },
    });
    writer.publishTo(appender);
    const repo = new Repository(marketData, writer, ctx.tf.hot);
    const relay = new OutboxRelay(ctx.tf.hot.pool, ctx.schema, log, { topic: TOPIC });

    // Each failed append sends its event to the outbox; the relay (on the real log) empties it,
    // so the next write tries the log again rather than queueing behind it.
    await repo.upsert([bar('B', 0)]);
    expect(await relay.drain()).toBe(1);
    await repo.upsert([bar('B', 1)]);
    expect(await relay.drain()).toBe(1);
    expect(writer.logBreaker.state).toBe('open');
    // Open: the next write goes to the outbox without an attempt.
    await repo.upsert([bar('B', 2)]);
    expect(attempts).toBe(2);
    expect(published('outbox')).toBe(3);

    up = true;
    expect(await relay.drain()).toBe(1);
    await until(() => writer.logBreaker.admits(), 'the breaker to let a probe through');
    await repo.upsert([bar('B', 3)]);
    expect(attempts).toBe(3);
    expect(writer.logBreaker.state).toBe('closed');
    expect(published('ok')).toBe(1);
  });

  it('falls back to the outbox while the log fails, keeps later writes behind it, and writes each event once', async () => {
    let mode: 'up' | 'down' | 'ghost' = 'down';
    const flaky: EventAppender = {
      append: async (topic, entries) => {
        if (mode === 'down')
          throw Object.assign(new Error('the log is unreachable'), { code: 'ECONNREFUSED' });
        const positions = await log.append(topic, entries);
        // A timed-out append that landed all the same: the writer sees a failure.
        if (mode === 'ghost') throw new Error('append timed out');
        return positions;
      },
    };
    const { bars } = writerOn(flaky);
    const relay = new OutboxRelay(ctx.tf.hot.pool, ctx.schema, log, { topic: TOPIC });
    const outbox = async () =>
      (await ctx.tf.hot.pool.query(`SELECT count(*)::int AS n FROM "${ctx.schema}".tierflow_outbox`)).rows[0]
        .n as number;

    await bars.upsert([bar('K', 0, 1)]);
    expect(published('error')).toBe(1);
    mode = 'up';
    // The log is back, but an older event of the same key still waits: this one queues behind it.
    await bars.upsert([bar('K', 0, 2)]);
    expect(await outbox()).toBe(2);
    expect(await relay.drain()).toBe(2);
    await bars.upsert([bar('K', 0, 3)]);
    expect(await outbox()).toBe(0);
    mode = 'ghost';
    await bars.upsert([bar('K', 0, 4)]);
    expect(await outbox()).toBe(1);
    expect(await relay.drain()).toBe(1);

    const entries = await collect(log, TOPIC, 'earliest');
    // The second write's own copy (appended while its receipt found the outbox busy, so
    // superseded), relayed, relayed, appended directly, the ghost copy (superseded), relayed.
    expect(pathOf(entries)).toEqual(['direct', 'outbox', 'outbox', 'direct', 'direct', 'outbox']);
    const statuses = await receipts.resolve(entries.flatMap((e) => (e.headers.xid ? [e.headers.xid] : [])));
    expect([...statuses.values()]).toEqual(['aborted', 'committed', 'aborted']);
    const consumer = consumerOf();
    consumer.start();
    await until(async () => (await log.lag('cold-storage', TOPIC)) === 0, 'the consumer to commit');
    await consumer.stop();
    expect(await lakeRows(`SELECT close FROM market_data_history ORDER BY _position`)).toEqual(
      ['1.000000', '2.000000', '3.000000', '4.000000'].map((close) => ({ close })),
    );
    expect(await lakeRows(`SELECT close FROM market_data`)).toEqual([{ close: '4.000000' }]);
    expect(
      (
        await ctx.tf.hot.get(marketData, {
          symbol: 'K',
          interval: '1m',
          bucket_start: '2024-03-04T14:00:00Z',
        })
      )?.close,
    ).toBe('4.000000');
  });
});
