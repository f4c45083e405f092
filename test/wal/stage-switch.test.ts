import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { allDatasets, marketData } from '../../src/datasets/index.ts';
import { openLakeQuery } from '../../src/lake/duckdb-lake.ts';
import { reconcile } from '../../src/lake/reconcile.ts';
import { createFileLog } from '../../src/log/file/index.ts';
import { StageSwitch } from '../../src/stages/stage-switch.ts';
import { useTierflow } from '../support/hot.ts';

describe('switching between stage 1 and stage 2 under load', () => {
  const ctx = useTierflow({ mode: 'hot-only' });
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('dual-write → wal → dual-write → wal while a writer keeps writing: nothing lost, nothing duplicated', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tierflow-switch-'));
    dirs.push(dir);
    const log = await createFileLog(path.join(dir, 'log'));
    const lakeRoot = path.join(dir, 'lake');
    const errors: unknown[] = [];
    const stages = await StageSwitch.start({
      databaseUrl: ctx.url,
      schema: ctx.schema,
      log,
      lakeRoot,
      mode: 'dual-write',
      maxBatchMs: 20,
      onError: (e) => errors.push(e),
    });
    // 20 keys written over and over: each batch updates every key, so a change applied out of
    // order anywhere would leave an older close behind.
    let acked = 0;
    let stop = false;
    const writing = (async () => {
      for (let round = 1; !stop; round++) {
        const rows = Array.from({ length: 20 }, (_, k) => ({
          symbol: `SW${k}`,
          interval: '1m',
          bucket_start: new Date(Date.UTC(2024, 2, 4, 14, 0)),
          open: round,
          high: round,
          low: round,
          close: round,
          source: stages.mode,
        }));
        await stages.repositories.marketData.upsert(rows);
        acked = round;
      }
    })();
    const after = async (n: number) => {
      const target = acked + n;
      while (acked < target) await new Promise((resolve) => setTimeout(resolve, 5));
    };
    await after(10);
    await stages.switchTo('wal');
    await after(10);
    await stages.switchTo('dual-write');
    await after(10);
    await stages.switchTo('wal');
    await after(10);
    stop = true;
    await writing;
    await stages.waitCaughtUp(30_000);

    const { rows } = await ctx.tf.hot.pool.query(
      `SELECT DISTINCT close FROM "${ctx.schema}".market_data WHERE symbol LIKE 'SW%'`,
    );
    expect(rows).toEqual([{ close: `${acked}.000000` }]);
    await using lake = await openLakeQuery(lakeRoot, allDatasets);
    expect(await lake.query(`SELECT DISTINCT close FROM market_data`)).toEqual([
      { close: `${acked}.000000` },
    ]);
    expect(await lake.query(`SELECT count(*) AS n FROM market_data`)).toEqual([{ n: 20n }]);
    // Every acknowledged version is in the lake's history once: 20 keys × every round.
    expect(
      await lake.query(`SELECT count(*) AS n, count(DISTINCT (symbol, close)) AS d FROM market_data_history`),
    ).toEqual([{ n: BigInt(20 * acked), d: BigInt(20 * acked) }]);
    const report = await reconcile({
      pool: ctx.tf.hot.pool,
      schema: ctx.schema,
      lake,
      datasets: [marketData],
    });
    expect(report.clean).toBe(true);
    await stages.close();
    await log.close();
    expect(errors).toEqual([]);
  });
});
