import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFeed } from '../../src/feed/run-feed.ts';
import { createFileLog } from '../../src/log/file/index.ts';
import { startStage1 } from '../../src/pipeline/stage1.ts';
import { createTierflow } from '../../src/tierflow.ts';
import { useTierflow } from '../support/hot.ts';
import { runTierflow } from '../support/cli.ts';

describe('tierflow migrate check --to wal', () => {
  const ctx = useTierflow({ mode: 'hot-only' });
  let dir: string;

  const check = () =>
    runTierflow(
      '--database-url',
      ctx.url,
      '--schema',
      ctx.schema,
      'migrate',
      'check',
      '--to',
      'wal',
      '--log',
      `file:${path.join(dir, 'log')}`,
      '--lake',
      path.join(dir, 'lake'),
    );

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tierflow-check-'));
    const log = await createFileLog(path.join(dir, 'log'));
    const tf = await createTierflow({ databaseUrl: ctx.url, schema: ctx.schema, mode: 'dual-write' });
    const stage1 = await startStage1({ tf, log, lakeRoot: path.join(dir, 'lake'), maxBatchMs: 20 });
    await runFeed(tf.repositories, { symbols: 2, minutes: 10, seed: 3, batchSize: 200 });
    await stage1.waitCaughtUp(30_000);
    await stage1.stop();
    await tf.close();
    await log.close();
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('passes every check on a healthy stage 1, replaying a probe batch into a scratch schema', () => {
    const result = check();
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    for (const name of [
      'dual writer healthy',
      'cold lag under a minute',
      'reconciliation clean',
      'WAL backend reachable',
      'replay into a scratch target verified',
    ])
      expect(result.stdout).toMatch(new RegExp(`${name}\\s+pass`));
    expect(result.stdout).toContain('ready for stage 2 (wal)');
  });

  it('fails, naming the check, when hot and cold disagree', async () => {
    await ctx.tf.hot.pool.query(
      `UPDATE "${ctx.schema}".market_data SET close = close + 1 WHERE ctid IN (SELECT ctid FROM "${ctx.schema}".market_data LIMIT 1)`,
    );
    const result = check();
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/reconciliation clean\s+FAIL/);
    expect(result.stdout).toContain('not ready: 1 of 5 checks failed');
  });
});
