import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { allDatasets } from '../../src/datasets/index.ts';
import { runFeed } from '../../src/feed/run-feed.ts';
import { openLakeQuery } from '../../src/lake/duckdb-lake.ts';
import { reconcile } from '../../src/lake/reconcile.ts';
import type { Log } from '../../src/log/log.ts';
import { createNatsLog, dropNatsPrefix } from '../../src/log/nats/index.ts';
import { createTierflow } from '../../src/tierflow.ts';
import { startStage1 } from '../../src/pipeline/stage1.ts';
import { startStage2 } from '../../src/wal/stage2.ts';
import { dropSchema, useTierflow } from '../support/hot.ts';
import { NATS_URL, serviceAvailable } from '../support/services.ts';

describe('stages 1 and 2 on NATS JetStream', () => {
  const ctx = useTierflow({ mode: 'hot-only' });
  const prefix = `TFWAL_${randomBytes(4).toString('hex')}`;
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('stage 1: events appended inside the hot transactions reach the lake, reconciled clean', async (t) => {
    let log: Log | undefined;
    const stage1Prefix = `${prefix}_S1`;
    const up = await serviceAvailable('NATS JetStream', async () => {
      log = await createNatsLog(NATS_URL, { prefix: stage1Prefix });
    });
    if (!up || !log) return t.skip();
    const dir = await mkdtemp(path.join(tmpdir(), 'tierflow-s1-nats-'));
    dirs.push(dir);
    const schema = `${ctx.schema}_s1`;
    const tf = await createTierflow({ databaseUrl: ctx.url, schema, mode: 'dual-write' });
    try {
      const stage1 = await startStage1({ tf, log, lakeRoot: path.join(dir, 'lake'), maxBatchMs: 20 });
      await runFeed(tf.repositories, { symbols: 2, minutes: 10, seed: 13, batchSize: 300 });
      await stage1.waitCaughtUp(60_000);
      await stage1.stop();
      await using lake = await openLakeQuery(path.join(dir, 'lake'), allDatasets);
      const report = await reconcile({ pool: tf.hot.pool, schema, lake, datasets: allDatasets });
      expect(report.clean).toBe(true);
      expect(report.days.length).toBeGreaterThan(0);
    } finally {
      await tf.close();
      await dropSchema(ctx.url, schema);
      await log.close();
      await dropNatsPrefix(NATS_URL, stage1Prefix);
    }
  });

  it('stage 2: applies every entry to hot and cold from a JetStream WAL', async (t) => {
    let log: Log | undefined;
    const up = await serviceAvailable('NATS JetStream', async () => {
      log = await createNatsLog(NATS_URL, { prefix });
    });
    if (!up || !log) return t.skip();
    const dir = await mkdtemp(path.join(tmpdir(), 'tierflow-wal-nats-'));
    dirs.push(dir);
    const lakeRoot = path.join(dir, 'lake');
    try {
      const tf = await createTierflow({ databaseUrl: ctx.url, schema: ctx.schema, mode: 'wal', log });
      await runFeed(tf.repositories, { symbols: 2, minutes: 10, seed: 11, batchSize: 300 });
      const stage2 = await startStage2({ wal: tf.wal!, lakeRoot, maxBatchMs: 20 });
      await stage2.waitCaughtUp(60_000);
      await stage2.stop();
      await using lake = await openLakeQuery(lakeRoot, allDatasets);
      const report = await reconcile({ pool: tf.hot.pool, schema: ctx.schema, lake, datasets: allDatasets });
      expect(report.clean).toBe(true);
      expect(report.days.length).toBeGreaterThan(0);
      await tf.close();
    } finally {
      await log.close();
      await dropNatsPrefix(NATS_URL, prefix);
    }
  });
});
