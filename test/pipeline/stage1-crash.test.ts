import { spawn } from 'node:child_process';
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
import { useTierflow } from '../support/hot.ts';

describe('stage 1 under SIGKILL', () => {
  const ctx = useTierflow({ mode: 'dual-write' });
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('after 10 kills at random moments, every acknowledged write is in hot and in cold, once', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tierflow-stage1-crash-'));
    dirs.push(dir);
    const acknowledged = new Map<number, number>(); // round → batches acknowledged
    for (let round = 0; round < 10; round++) {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'test/pipeline/fixtures/stage1-child.ts',
          ctx.url,
          ctx.schema,
          dir,
          String(round),
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      let buffered = '';
      let ready!: () => void;
      const started = new Promise<void>((resolve) => (ready = resolve));
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const line of lines) {
          if (line === 'ready') ready();
          const m = /^ack (\d+) (\d+)$/.exec(line);
          if (m) acknowledged.set(Number(m[1]), Number(m[2]) + 1);
        }
      });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      await Promise.race([started, exited]);
      expect(stderr).toBe('');
      // A pseudo-random moment 50–650 ms into the writes, seeded by the round.
      await new Promise((resolve) => setTimeout(resolve, 50 + ((round * 7919) % 600)));
      child.kill('SIGKILL');
      await exited;
    }
    expect([...acknowledged.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(20);

    // Restart stage 1 and let it catch up with whatever the kills left in the outbox and the log.
    const tf = await createTierflow({ databaseUrl: ctx.url, schema: ctx.schema, mode: 'dual-write' });
    const log = await createFileLog(path.join(dir, 'log'));
    const stage1 = await startStage1({ tf, log, lakeRoot: path.join(dir, 'lake'), maxBatchMs: 20 });
    await stage1.waitCaughtUp(60_000);
    await stage1.stop();
    await log.close();

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
    await tf.close();
  });
});
