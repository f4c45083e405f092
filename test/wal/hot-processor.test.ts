import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { findDataset, marketData } from '../../src/datasets/index.ts';
import { DeadLetters } from '../../src/events/dead-letters.ts';
import { RejectedEntryError } from '../../src/events/rejected-entry.ts';
import { createFileLog } from '../../src/log/file/index.ts';
import type { Log } from '../../src/log/log.ts';
import { CHECKPOINTS_TABLE, ensureCheckpoints } from '../../src/wal/checkpoints.ts';
import { HotStorageProcessor } from '../../src/wal/hot-storage-processor.ts';
import { WalWriter } from '../../src/wal/wal-writer.ts';
import { HotStore } from '../../src/hot/hot-store.ts';
import { createPool } from '../../src/hot/pool.ts';
import { useTierflow } from '../support/hot.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { until } from '../support/until.ts';

const bar = (symbol: string, volume: number) => ({
  symbol,
  interval: '1m',
  bucket_start: new Date(Date.UTC(2024, 2, 4, 14, 30)),
  open: '1.5',
  high: '1.5',
  low: '1.5',
  close: '1.5',
  volume,
  source: 'test',
});

async function collectFirst(log: Log) {
  for await (const batch of log.read('wal', { from: 'earliest', follow: false, maxBatchEntries: 1 }))
    if (batch[0]) return batch[0];
  throw new Error('the log is empty');
}

describe('the hot processor', () => {
  const ctx = useTierflow({ mode: 'hot-only' });
  const cleanups: (() => Promise<void>)[] = [];
  let dirs: string[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await ctx.tf.hot.pool.query(`DELETE FROM "${ctx.schema}".${CHECKPOINTS_TABLE}`);
    await ctx.tf.hot.pool.query(`DELETE FROM "${ctx.schema}".market_data`);
  });
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    dirs = [];
  });

  const openLog = async (): Promise<Log> => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tierflow-hotproc-'));
    dirs.push(dir);
    const log = await createFileLog(path.join(dir, 'log'));
    cleanups.push(() => log.close());
    await ensureCheckpoints(ctx.tf.hot.pool, ctx.schema);
    return log;
  };
  const processor = (log: Log, name?: string) => {
    const p = new HotStorageProcessor(ctx.tf.hot, log, {
      datasetOf: findDataset,
      lease: { retryMs: 50 },
      ...(name ? { name } : {}),
    });
    p.start();
    cleanups.push(() => p.stop());
    return p;
  };

  it('runs once per schema: a standby follows the checkpoint, answers ack "hot", and takes over when the owner stops', async () => {
    const log = await openLog();
    const first = processor(log);
    await until(() => first.state().active, 'the first processor to take the lease');
    const second = processor(log);
    // The standby's writer is acknowledged through the owner's work.
    const writer = new WalWriter(log, { ack: 'hot', hotApplied: second, hotAckTimeoutMs: 10_000 });
    await writer.upsert(marketData as never, [bar('AAA', 1)]);
    expect(second.state().active).toBe(false);
    // The owner counts once its COMMIT returns, which may be just after the standby saw it.
    await until(() => first.rowsApplied === 1, 'the owner to count its row');
    expect(second.rowsApplied).toBe(0);

    await first.stop();
    await until(() => second.state().active, 'the standby to take over');
    await writer.upsert(marketData as never, [bar('BBB', 2)]);
    expect(second.rowsApplied).toBe(1);
    const { rows } = await ctx.tf.hot.pool.query(`SELECT symbol FROM "${ctx.schema}".market_data ORDER BY 1`);
    expect(rows.map((r: { symbol: string }) => r.symbol)).toEqual(['AAA', 'BBB']);
  });

  it('dead-letters only the entry PostgreSQL refuses for its data, tells its ack "hot" writer, and applies the rest', async () => {
    const log = await openLog();
    await ctx.tf.hot.pool.query(
      `ALTER TABLE "${ctx.schema}".market_data ADD CONSTRAINT small_volume CHECK (volume < 1000)`,
    );
    cleanups.push(async () => {
      await ctx.tf.hot.pool.query(`ALTER TABLE "${ctx.schema}".market_data DROP CONSTRAINT small_volume`);
    });
    // Three entries in one batch: the processor starts after they are in the log.
    const plain = new WalWriter(log);
    await plain.upsert(marketData as never, [bar('AAA', 1)]);
    await plain.upsert(marketData as never, [bar('BAD', 5000)]);
    await plain.upsert(marketData as never, [bar('CCC', 3)]);
    const p = processor(log);
    const waiting = new WalWriter(log, { ack: 'hot', hotApplied: p, hotAckTimeoutMs: 10_000 });
    await waiting.upsert(marketData as never, [bar('DDD', 4)]);
    const { rows } = await ctx.tf.hot.pool.query(`SELECT symbol FROM "${ctx.schema}".market_data ORDER BY 1`);
    expect(rows.map((r: { symbol: string }) => r.symbol)).toEqual(['AAA', 'CCC', 'DDD']);
    const letters = await new DeadLetters(log).list();
    expect(letters.map((l) => [l.sourcePosition, l.pipeline, l.code])).toEqual([
      [1n, 'hot-processor', 'HOT_WRITE'],
    ]);
    expect(letters[0]!.reason).toContain('small_volume');
    // A writer that waits for a dead-lettered entry is told, not acknowledged, in this process and in others.
    await expect(p.waitApplied(1n)).rejects.toBeInstanceOf(RejectedEntryError);
    const standby = processor(log);
    await until(() => standby.appliedThrough === 3n, 'the standby to follow the checkpoint');
    expect(standby.state().active).toBe(false);
    await expect(standby.waitApplied(1n)).rejects.toThrow(/small_volume/);
    await expect(standby.waitApplied(2n)).resolves.toBeUndefined();
    expect(p.state().failing).toBeUndefined();
  });

  it('a standby that lost PostgreSQL for a while says so, and stops saying so once it answers again', async () => {
    const log = await openLog();
    const owner = processor(log);
    await until(() => owner.state().active, 'the owner to take the lease');
    const proxy = new TcpProxy('127.0.0.1', Number(new URL(ctx.url).port || 5432));
    await proxy.start();
    const viaProxy = new URL(ctx.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const pool = createPool(viaProxy.toString(), { max: 2, connectionTimeoutMillis: 2_000 });
    cleanups.push(async () => {
      await pool.end();
      await proxy.stop();
    });
    const standby = new HotStorageProcessor(new HotStore(pool, { schema: ctx.schema }), log, {
      datasetOf: findDataset,
      lease: { retryMs: 50 },
      onError: () => {},
    });
    standby.start();
    cleanups.push(() => standby.stop());
    await proxy.stop();
    await until(() => standby.state().failing !== undefined, 'the standby to report PostgreSQL gone');
    expect(standby.state().active).toBe(false);
    await proxy.start();
    await until(() => standby.state().failing === undefined, 'the standby to recover', 10_000);
    expect(standby.state().active).toBe(false);
  });

  it('goes on after retention emptied the WAL up to its checkpoint, and a restart', async () => {
    const log = await openLog();
    const writer = new WalWriter(log);
    await writer.upsert(marketData as never, [bar('AAA', 1)]);
    const first = processor(log);
    await until(() => first.appliedThrough === 0n, 'the first entry to be applied');
    await first.stop();
    // Every entry is older than a millisecond by now, and applied: retention may drop them all.
    await until(
      async () => (await log.applyRetention('wal', { maxAgeMs: 1, keepFrom: 1n })) > 0,
      'retention',
    );
    expect((await log.stats('wal')).entries).toBe(0);
    const again = processor(log);
    await until(() => again.following, 'the restarted processor to follow the log');
    await writer.upsert(marketData as never, [bar('BBB', 2)]);
    await until(() => again.appliedThrough === 1n, 'the entry after the trim to be applied');
    expect(again.state().failing).toBeUndefined();
  });

  it('a process whose WAL is not the one the checkpoint was made from stops, standby or owner, instead of mixing two logs', async () => {
    const logA = await openLog();
    const logB = await openLog();
    await new WalWriter(logA).upsert(marketData as never, [bar('AAA', 1)]);
    const owner = processor(logA);
    await until(() => owner.appliedThrough === 0n, 'the owner to apply its entry');
    // Another process with a file log of its own: its entry 0 is another entry, logged later.
    const loggedA = (await collectFirst(logA)).timestamp;
    await until(() => Date.now() > loggedA, 'the clock to move on');
    await new WalWriter(logB).upsert(marketData as never, [bar('BBB', 2)]);
    const standby = processor(logB);
    await until(() => standby.state().failing !== undefined, 'the standby to stop');
    expect(standby.state().failing).toMatch(/^stopped: the hot checkpoint was made from another log/);
    expect(owner.state().active).toBe(true);
    // As owner it refuses too, before applying anything of its log.
    await owner.stop();
    const next = processor(logB);
    await until(() => next.state().failing !== undefined, 'the next owner to stop');
    expect(next.state().failing).toMatch(/WAL_LOG_MISMATCH|made from another log/);
    const { rows } = await ctx.tf.hot.pool.query(`SELECT symbol FROM "${ctx.schema}".market_data`);
    expect(rows.map((r: { symbol: string }) => r.symbol)).toEqual(['AAA']);
  });

  it('stops, naming the gap, when the log no longer holds what follows its checkpoint', async () => {
    const log = await openLog();
    await new WalWriter(log).upsert(marketData as never, [bar('AAA', 1)]);
    // As after a WAL recreated or restored from an older copy: the checkpoint is past its end.
    await ctx.tf.hot.pool.query(
      `INSERT INTO "${ctx.schema}".${CHECKPOINTS_TABLE} (processor, position) VALUES ('hot', 41)`,
    );
    const p = processor(log);
    await until(() => p.state().failing !== undefined, 'the processor to stop');
    expect(p.state().failing).toMatch(/^stopped: the hot checkpoint is at 41 but topic "wal" ends at 0/);
    const { rows } = await ctx.tf.hot.pool.query(
      `SELECT count(*)::int AS n FROM "${ctx.schema}".market_data`,
    );
    expect(rows[0].n).toBe(0);
  });
});
