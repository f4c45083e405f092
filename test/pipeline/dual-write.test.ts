import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findDataset, marketData } from '../../src/datasets/index.ts';
import { Repository } from '../../src/hot/repository.ts';
import { createFileLog } from '../../src/log/file/index.ts';
import type { Log } from '../../src/log/log.ts';
import { decodeEvent } from '../../src/events/data-written-event.ts';
import { DualStorageWriter } from '../../src/pipeline/dual-storage-writer.ts';
import { ensureStage1Schema } from '../../src/pipeline/stage1-schema.ts';
import { OutboxRelay } from '../../src/pipeline/outbox-relay.ts';
import { collect } from '../log/conformance.ts';
import { useTierflow } from '../support/hot.ts';

const bar = (symbol: string, minute: number, close = 10) => ({
  symbol,
  interval: '1m',
  bucket_start: new Date(Date.UTC(2024, 2, 4, 14, 30 + minute)),
  open: close,
  high: close,
  low: close,
  close,
  volume: 2n ** 60n + BigInt(minute),
  source: 'test',
});

describe('stage 1: DualStorageWriter with a transactional outbox', () => {
  const ctx = useTierflow();
  let dir: string;
  let log: Log;
  let writer: DualStorageWriter;
  let bars: Repository<Record<string, unknown>, Record<string, unknown>>;
  const outboxCount = async () =>
    (await ctx.tf.hot.pool.query(`SELECT count(*)::int AS n FROM "${ctx.schema}".tierflow_outbox`)).rows[0]
      .n as number;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tierflow-dual-'));
    log = await createFileLog(dir);
    await ensureStage1Schema(ctx.tf.hot.pool, ctx.schema);
    writer = new DualStorageWriter(ctx.tf.hot);
    bars = new Repository(marketData, writer, ctx.tf.hot) as typeof bars;
  });
  afterAll(async () => {
    await log.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('commits the event with the rows, and the relay moves it to the log exactly as stored', async () => {
    const relay = new OutboxRelay(ctx.tf.hot.pool, ctx.schema, log, { topic: 'events' });
    await bars.upsert([bar('AAPL', 0), bar('MSFT', 1)]);
    expect(await outboxCount()).toBe(1);
    expect(await relay.drain()).toBe(1);
    expect(await outboxCount()).toBe(0);
    const [entry] = await collect(log, 'events', 'earliest');
    const event = decodeEvent(entry!.payload, (name) => findDataset(name));
    expect(event).toMatchObject({ dataset: 'market_data', op: 'u', schemaVersion: 1 });
    expect(event.rows).toEqual(await ctx.tf.hot.range(marketData, {}));
    expect(event.rows[0]!.volume).toBe(2n ** 60n);
    expect(event.eventTimes).toEqual(['2024-03-04T14:30:00.000000Z', '2024-03-04T14:31:00.000000Z']);
    expect(entry!.key).toBe('market_data');
  });

  it('publishes nothing for a write that fails, in validation or in PostgreSQL', async () => {
    await expect(bars.upsert([{ ...bar('BAD', 0), volume: -1n }])).rejects.toMatchObject({
      code: 'VALIDATION',
    });
    await expect(bars.upsert([{ ...bar('BAD', 0), symbol: 'X'.repeat(40) }])).rejects.toMatchObject({
      code: 'VALIDATION',
    });
    await ctx.tf.hot.pool.query(
      `ALTER TABLE "${ctx.schema}".market_data ADD CONSTRAINT no_zzz CHECK (symbol <> 'ZZZ')`,
    );
    await expect(bars.upsert([bar('OK', 5), bar('ZZZ', 5)])).rejects.toMatchObject({ code: 'HOT_WRITE' });
    await ctx.tf.hot.pool.query(`ALTER TABLE "${ctx.schema}".market_data DROP CONSTRAINT no_zzz`);
    expect(await outboxCount()).toBe(0);
    expect(
      await bars.get({ symbol: 'OK', interval: '1m', bucket_start: '2024-03-04T14:35:00Z' }),
    ).toBeUndefined();
  });

  it('carries deletes as keys, with the event time taken from the key or the time of the delete', async () => {
    const relay = new OutboxRelay(ctx.tf.hot.pool, ctx.schema, log, { topic: 'deletes' });
    await bars.delete([{ symbol: 'AAPL', interval: '1m', bucket_start: '2024-03-04T14:30:00Z' }]);
    const companies = new Repository(findDataset('companies'), writer, ctx.tf.hot);
    await companies.upsert([
      {
        symbol: 'GONE',
        name: 'Gone Inc',
        exchange: 'X',
        currency: 'USD',
        active: false,
        updated_at: '2024-03-04T00:00:00Z',
      },
    ]);
    // A key with no row publishes nothing: its tombstone could outlive a row another transaction is inserting.
    await companies.delete([{ symbol: 'GONE' }, { symbol: 'NEVER' }]);
    await companies.delete([{ symbol: 'NEVER' }]);
    expect(await relay.drain()).toBe(3);
    const events = (await collect(log, 'deletes', 'earliest'))
      .map((e) => decodeEvent(e.payload, (n) => findDataset(n)))
      .filter((e) => e.op === 'd');
    expect(events[0]).toMatchObject({
      op: 'd',
      rows: [{ symbol: 'AAPL', interval: '1m', bucket_start: '2024-03-04T14:30:00.000000Z' }],
      eventTimes: ['2024-03-04T14:30:00.000000Z'],
    });
    expect(events[1]).toMatchObject({ op: 'd', dataset: 'companies', rows: [{ symbol: 'GONE' }] });
    expect(events[1]!.eventTimes[0]! >= events[1]!.writtenAt.slice(0, 19)).toBe(true);
  });

  it('keeps events in the outbox while the log is down, and moves them once it is back', async () => {
    const downDir = await mkdtemp(path.join(tmpdir(), 'tierflow-dual-down-'));
    const down = await createFileLog(downDir);
    await down.close();
    const failing = new OutboxRelay(ctx.tf.hot.pool, ctx.schema, down, { topic: 'later' });
    await bars.upsert([bar('WAIT', 9)]);
    await expect(failing.drainOnce()).rejects.toMatchObject({ code: 'LOG_CLOSED' });
    expect(await outboxCount()).toBe(1);
    const reopened = await createFileLog(downDir);
    expect(await new OutboxRelay(ctx.tf.hot.pool, ctx.schema, reopened, { topic: 'later' }).drain()).toBe(1);
    expect(await outboxCount()).toBe(0);
    await reopened.close();
    await rm(downDir, { recursive: true, force: true });
  });

  it('makes relays of one schema take turns, so events reach the log in outbox order', async () => {
    for (let minute = 0; minute < 10; minute++) await bars.upsert([bar('TURN', 100 + minute)]);
    const ids = async () =>
      (
        await ctx.tf.hot.pool.query(
          `SELECT id::text AS queued FROM "${ctx.schema}".tierflow_outbox ORDER BY id`,
        )
      ).rows.map((r) => r.queued as string);
    const queued = await ids();
    expect(queued).toHaveLength(10);
    // The first relay's append waits until the second relay's append is done, or its try has
    // ended without one: if both could hold a batch at once, the newer batch would reach the log first.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let secondDone!: () => void;
    const second = new Promise<void>((resolve) => (secondDone = resolve));
    let firstHolds!: () => void;
    const holding = new Promise<void>((resolve) => (firstHolds = resolve));
    const gated = {
      append: async (...args: Parameters<Log['append']>) => {
        firstHolds();
        await released;
        return log.append(...args);
      },
    };
    const relayed = {
      append: async (...args: Parameters<Log['append']>) => {
        try {
          return await log.append(...args);
        } finally {
          secondDone();
        }
      },
    };
    const first = new OutboxRelay(ctx.tf.hot.pool, ctx.schema, gated, { topic: 'turns', batchSize: 5 });
    const other = new OutboxRelay(ctx.tf.hot.pool, ctx.schema, relayed, { topic: 'turns', batchSize: 5 });
    const moving = first.drainOnce();
    // The second relay starts while the first one holds its batch (its append is waiting).
    await holding;
    // The second relay waits for the lock, or leaves its try for later; the rest is moved after.
    const otherTry = other.drainOnce();
    void second.then(release);
    otherTry.then(release, release);
    const [a, b] = await Promise.all([moving, otherTry]);
    expect(a + b + (await other.drain())).toBe(10);
    const order = (await collect(log, 'turns', 'earliest')).map((e) => e.headers.outbox_id);
    expect(order).toEqual(queued);
    expect(await outboxCount()).toBe(0);
  });

  it('relays on notification while running, and stops cleanly', async () => {
    const errors: unknown[] = [];
    const relay = new OutboxRelay(ctx.tf.hot.pool, ctx.schema, log, {
      topic: 'live',
      pollMs: 60_000,
      onError: (e) => errors.push(e),
    });
    relay.start();
    await bars.upsert([bar('LIVE', 20)]);
    // pollMs is a minute: only the NOTIFY sent at commit can make the relay move the event in time.
    const deadline = Date.now() + 10_000;
    while ((await outboxCount()) > 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    const seen = (await collect(log, 'live', 'earliest')).length;
    expect(seen).toBe(1);
    await relay.stop();
    expect(errors).toEqual([]);
    expect(await outboxCount()).toBe(0);
  });
});
