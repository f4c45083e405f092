import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { allDatasets, marketData } from '../../src/datasets/index.ts';
import { openLakeQuery } from '../../src/lake/duckdb-lake.ts';
import { reconcile } from '../../src/lake/reconcile.ts';
import { createFileLog } from '../../src/log/file/index.ts';
import { startStage1 } from '../../src/pipeline/stage1.ts';
import { createTierflow } from '../../src/tierflow.ts';
import { startStage2 } from '../../src/wal/stage2.ts';
import { useTierflow } from '../support/hot.ts';
import { runThenKill } from '../support/kill-child.ts';

describe.each(['dual-write', 'wal'] as const)('%s under SIGKILL', (mode) => {
  const ctx = useTierflow({ mode: 'hot-only' });
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('after 10 kills at random moments, every acknowledged write is in hot and in cold, once', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tierflow-stage1-crash-'));
    dirs.push(dir);
    const acknowledged = new Map<number, number>(); // round → batches acknowledged
    for (let round = 0; round < 10; round++) {
      // Killed at a pseudo-random moment 50–650 ms into the writes (seeded by the round).
      const args = [ctx.url, ctx.schema, dir, String(round), mode];
      const { stderr } = await runThenKill(
        'test/pipeline/fixtures/stage1-child.ts',
        args,
        50 + ((round * 7919) % 600),
        (line) => {
          const m = /^ack (\d+) (\d+)$/.exec(line);
          if (m) acknowledged.set(Number(m[1]), Number(m[2]) + 1);
        },
      );
      expect(stderr).toBe('');
    }
    expect([...acknowledged.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(20);

    // Restart the stage and let it catch up with whatever the kills left in the outbox and the log.
    const log = await createFileLog(path.join(dir, 'log'));
    const lakeRoot = path.join(dir, 'lake');
    const tf = await createTierflow({ databaseUrl: ctx.url, schema: ctx.schema, mode, log });
    const stage =
      mode === 'wal'
        ? await startStage2({ wal: tf.wal!, lakeRoot, maxBatchMs: 20 })
        : await startStage1({ tf, log, lakeRoot, maxBatchMs: 20 });
    await stage.waitCaughtUp(60_000);
    await stage.stop();

    for (const [round, batches] of acknowledged) {
      const { rows } = await tf.hot.pool.query(
        `SELECT count(*)::int AS n FROM "${ctx.schema}".market_data WHERE symbol = $1`,
        [`R${round}`],
      );
      expect(rows[0].n, `round ${round}`).toBeGreaterThanOrEqual(batches * 50);
    }
    await using lake = await openLakeQuery(path.join(dir, 'lake'), allDatasets);
    const report = await reconcile({ pool: tf.hot.pool, schema: ctx.schema, lake, datasets: [marketData] });
    expect(report.clean).toBe(true);
    const duplicates = await lake.query(
      `SELECT count(*) AS n FROM (SELECT symbol, interval, bucket_start FROM market_data GROUP BY ALL HAVING count(*) > 1)`,
    );
    expect(duplicates[0]).toEqual({ n: 0n });
    if (mode === 'dual-write') {
      // Every receipt was cleared with its event's lake commit, wherever the kills landed.
      const { rows: receipts } = await tf.hot.pool.query(
        `SELECT count(*)::int AS n FROM "${ctx.schema}".tierflow_commit_receipts`,
      );
      expect(receipts[0].n).toBe(0);
    }
    await tf.close();
    await log.close();
  }, 120_000);
});
