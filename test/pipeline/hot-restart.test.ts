import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { allDatasets, marketData } from '../../src/datasets/index.ts';
import { EmbeddedPostgresServer } from '../../src/hot/embedded-server.ts';
import { openLakeQuery } from '../../src/lake/duckdb-lake.ts';
import { reconcile } from '../../src/lake/reconcile.ts';
import { createFileLog } from '../../src/log/file/index.ts';
import { startStage1 } from '../../src/pipeline/stage1.ts';
import { createTierflow } from '../../src/tierflow.ts';

const bars = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({
    symbol: 'PG',
    interval: '1m',
    bucket_start: new Date(Date.UTC(2024, 2, 4) + (from + i) * 60_000),
    open: 1,
    high: 1,
    low: 1,
    close: 1,
    source: 'test',
  }));

describe('stage 1 while PostgreSQL stops and starts', () => {
  // A server of its own, so stopping it does not disturb the other test files.
  const dataDir = path.resolve(`.tierflow/test-restart-${randomBytes(4).toString('hex')}`);
  const server = new EmbeddedPostgresServer(dataDir);
  const dirs: string[] = [];
  afterAll(async () => {
    await server.stop();
    for (const dir of [dataDir, ...dirs]) await rm(dir, { recursive: true, force: true });
  });

  it('fails writes clearly while it is down, fails fast once the breaker opens, and recovers without a restart', async () => {
    const { url } = await server.start();
    const dir = await mkdtemp(path.join(tmpdir(), 'tierflow-restart-'));
    dirs.push(dir);
    const tf = await createTierflow({
      databaseUrl: url,
      mode: 'dual-write',
      schema: 'restart',
      hotBreaker: { consecutiveFailures: 3, halfOpenAfterMs: 300 },
    });
    const log = await createFileLog(path.join(dir, 'log'));
    const errors: unknown[] = [];
    const stage1 = await startStage1({
      tf,
      log,
      lakeRoot: path.join(dir, 'lake'),
      maxBatchMs: 20,
      onError: (e) => errors.push(e),
    });
    const repo = tf.repositories.marketData;
    await repo.upsert(bars(0, 10));

    await server.stop();
    const failures: { code: string; retriable: boolean; ms: number }[] = [];
    for (let i = 0; i < 6; i++) {
      const t = performance.now();
      const error = (await repo.upsert(bars(100 + i, 1)).catch((e: unknown) => e)) as {
        code: string;
        retriable: boolean;
      };
      failures.push({ code: error.code, retriable: error.retriable, ms: performance.now() - t });
    }
    expect(failures.slice(0, 3).map((f) => f.code)).toEqual([
      'HOT_CONNECTION',
      'HOT_CONNECTION',
      'HOT_CONNECTION',
    ]);
    expect(failures.slice(3).map((f) => f.code)).toEqual(['CIRCUIT_OPEN', 'CIRCUIT_OPEN', 'CIRCUIT_OPEN']);
    expect(failures.every((f) => f.retriable)).toBe(true);
    expect(Math.max(...failures.slice(3).map((f) => f.ms))).toBeLessThan(50);

    await server.start();
    const deadline = Date.now() + 30_000;
    for (;;) {
      const result = await repo.upsert(bars(200, 10)).catch((e: unknown) => e);
      if (!(result instanceof Error)) break;
      if (Date.now() > deadline) throw result;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect((tf.writer as unknown as { hotBreaker: { state: string } }).hotBreaker.state).toBe('closed');
    await stage1.waitCaughtUp(30_000);
    await stage1.stop();
    await log.close();
    expect(await repo.count()).toBe(20);
    await using lake = await openLakeQuery(path.join(dir, 'lake'), allDatasets);
    expect(
      (await reconcile({ pool: tf.hot.pool, schema: 'restart', lake, datasets: [marketData] })).clean,
    ).toBe(true);
    await tf.close();
  });
});
