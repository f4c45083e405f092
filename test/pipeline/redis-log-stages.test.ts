import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { assertLogFitsPositions } from '../../src/cold/log-fits-positions.ts';
import { ConfigError } from '../../src/core/index.ts';
import { allDatasets } from '../../src/datasets/index.ts';
import { runFeed } from '../../src/feed/run-feed.ts';
import { openLakeQuery } from '../../src/lake/duckdb-lake.ts';
import { reconcile } from '../../src/lake/reconcile.ts';
import type { Log } from '../../src/log/log.ts';
import { DENSE_LIMIT, createRedisLog, dropRedisPrefix } from '../../src/log/redis/index.ts';
import { EVENT_TOPIC, startStage1 } from '../../src/pipeline/stage1.ts';
import { createTierflow } from '../../src/tierflow.ts';
import { startStage2 } from '../../src/wal/stage2.ts';
import { WAL_TOPIC } from '../../src/wal/wal-entry.ts';
import { dropSchema, useTierflow } from '../support/hot.ts';
import { REDIS_URL, pingRedis, serviceAvailable } from '../support/services.ts';

describe('assertLogFitsPositions', () => {
  it('lets the logs that count from 0 or 1 through without asking them anything', async () => {
    for (const backend of ['file', 'nats'])
      await expect(
        assertLogFitsPositions({ backend } as Log, 'stage 1', EVENT_TOPIC),
      ).resolves.toBeUndefined();
  });
});

const redisUp = serviceAvailable('Redis', pingRedis);

/**
 * Stages 1 and 2 on Redis Streams, which they refused while Redis positions came from stream IDs
 * (beyond the 2^43 a lake row position allows). The smallest honest check: each stage starts on a
 * Redis log, carries a short feed through to the lake and reconciles clean; and a stream written
 * in the old numbering is still refused, by name.
 */
describe('the Redis log under stages 1 and 2', async () => {
  const up = await redisUp;
  const ctx = useTierflow({ mode: 'dual-write' });
  const prefix = `tf-stages-${randomBytes(4).toString('hex')}`;
  const dirs: string[] = [];
  const tempDir = async (label: string) => {
    const dir = await mkdtemp(path.join(tmpdir(), `tierflow-redis-${label}-`));
    dirs.push(dir);
    return dir;
  };
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    if (up)
      for (const p of ['s1', 's2', 'legacy'].map((s) => `${prefix}-${s}`))
        await dropRedisPrefix(REDIS_URL, p);
    await dropSchema(ctx.url, `${ctx.schema}_wal`);
    await dropSchema(ctx.url, `${ctx.schema}_legacy`);
  });

  it.runIf(up)('runs stage 1: events through a Redis log reach the lake, reconciled clean', async () => {
    const dir = await tempDir('s1');
    const log = createRedisLog(REDIS_URL, { prefix: `${prefix}-s1` });
    try {
      const stage1 = await startStage1({ tf: ctx.tf, log, lakeRoot: path.join(dir, 'lake'), maxBatchMs: 20 });
      await runFeed(ctx.tf.repositories, { symbols: 1, minutes: 5, seed: 21, batchSize: 100 });
      await stage1.waitCaughtUp(60_000);
      await stage1.stop();
      const stats = await log.stats(EVENT_TOPIC);
      expect(stats.first).toBe(1n);
      expect(stats.last! < DENSE_LIMIT).toBe(true);
      await using lake = await openLakeQuery(path.join(dir, 'lake'), allDatasets);
      const report = await reconcile({
        pool: ctx.tf.hot.pool,
        schema: ctx.schema,
        lake,
        datasets: allDatasets,
      });
      expect(report.clean).toBe(true);
      expect(report.days.length).toBeGreaterThan(0);
    } finally {
      await log.close();
    }
  });

  it.runIf(up)('runs stage 2: a Redis WAL applied to hot and cold, reconciled clean', async () => {
    const dir = await tempDir('s2');
    const schema = `${ctx.schema}_wal`;
    const log = createRedisLog(REDIS_URL, { prefix: `${prefix}-s2` });
    try {
      const tf = await createTierflow({ databaseUrl: ctx.url, schema, mode: 'wal', log });
      try {
        await runFeed(tf.repositories, { symbols: 1, minutes: 5, seed: 22, batchSize: 100 });
        const stage2 = await startStage2({ wal: tf.wal!, lakeRoot: path.join(dir, 'lake'), maxBatchMs: 20 });
        await stage2.waitCaughtUp(60_000);
        await stage2.stop();
        expect((await log.stats(WAL_TOPIC)).first).toBe(1n);
        await using lake = await openLakeQuery(path.join(dir, 'lake'), allDatasets);
        const report = await reconcile({ pool: tf.hot.pool, schema, lake, datasets: allDatasets });
        expect(report.clean).toBe(true);
        expect(report.days.length).toBeGreaterThan(0);
      } finally {
        await tf.close();
      }
    } finally {
      await log.close();
    }
  });

  it.runIf(up)('refuses a stream written in the old numbering, naming the topic and its keys', async () => {
    const legacyPrefix = `${prefix}-legacy`;
    const admin = new Redis(REDIS_URL);
    const log = createRedisLog(REDIS_URL, { prefix: legacyPrefix });
    try {
      await admin.sadd(`${legacyPrefix}:topics`, WAL_TOPIC, EVENT_TOPIC);
      await admin.xadd(`${legacyPrefix}:topic:${WAL_TOPIC}`, '*', 'p', 'x');
      await admin.xadd(`${legacyPrefix}:topic:${EVENT_TOPIC}`, '*', 'p', 'x');
      const refusal = await assertLogFitsPositions(log, 'stage 2', WAL_TOPIC).catch(
        (error: unknown) => error,
      );
      expect(refusal).toBeInstanceOf(ConfigError);
      expect(refusal).toMatchObject({ code: 'CONFIG', retriable: false });
      expect((refusal as Error).message).toBe(
        `stage 2 cannot run on the Redis stream of topic "wal": it was written before tierflow numbered Redis entries densely, and its positions (from stream IDs, ms × 2^22 + seq) exceed the 2^43 a lake row position (log position × 2^20 + row) allows. To migrate, let its consumers finish, then delete ${legacyPrefix}:topic:wal, ${legacyPrefix}:groups:wal, ${legacyPrefix}:meta:wal (redis-cli DEL), or give the log another key prefix: the next append starts the topic again at position 1`,
      );
      await expect(
        createTierflow({ databaseUrl: ctx.url, schema: `${ctx.schema}_legacy`, mode: 'wal', log }),
      ).rejects.toThrow(/^stage 2 cannot run on the Redis stream of topic "wal"/);
      const outcome = await startStage1({
        tf: ctx.tf,
        log,
        lakeRoot: path.join(await tempDir('legacy'), 'lake'),
      }).then(
        async (stage1) => stage1.stop(), // not refused: stop what started, and fail below
        (error: unknown) => error,
      );
      expect(outcome).toBeInstanceOf(ConfigError);
      expect((outcome as Error).message).toMatch(
        /^stage 1 cannot run on the Redis stream of topic "data-written"/,
      );
    } finally {
      await log.close();
      await admin.quit();
    }
  });
});
