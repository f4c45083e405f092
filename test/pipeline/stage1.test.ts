import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allDatasets, findDataset } from '../../src/datasets/index.ts';
import { Repository } from '../../src/hot/repository.ts';
import type { Repositories } from '../../src/hot/repositories.ts';
import { openLakeQuery } from '../../src/lake/duckdb-lake.ts';
import { LakeWriter } from '../../src/lake/lake-writer.ts';
import { reconcile } from '../../src/lake/reconcile.ts';
import { createFileLog } from '../../src/log/file/index.ts';
import { runFeed } from '../../src/feed/run-feed.ts';
import { builtinDatasets } from '../../src/datasets/index.ts';
import { ColdStorageConsumer } from '../../src/cold/cold-storage-consumer.ts';
import { LakeEventSink } from '../../src/cold/event-sink.ts';
import { DualStorageWriter } from '../../src/pipeline/dual-storage-writer.ts';
import { ensureStage1Schema } from '../../src/pipeline/stage1-schema.ts';
import { OutboxRelay } from '../../src/pipeline/outbox-relay.ts';
import { useTierflow } from '../support/hot.ts';

describe('stage 1 end to end, writer in another process: DualStorageWriter → outbox → relay → log → ColdStorageConsumer → lake', () => {
  const ctx = useTierflow();
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tierflow-stage1-'));
    await ensureStage1Schema(ctx.tf.hot.pool, ctx.schema);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('lands every hot write in the lake, and a restarted consumer adds nothing twice', async () => {
    const log = await createFileLog(path.join(dir, 'log'));
    const lakeRoot = path.join(dir, 'lake');
    const errors: unknown[] = [];
    const writer = new DualStorageWriter(ctx.tf.hot);
    const repositories = Object.fromEntries(
      Object.entries(builtinDatasets).map(([k, d]) => [k, new Repository(d as never, writer, ctx.tf.hot)]),
    ) as unknown as Repositories;
    const relay = new OutboxRelay(ctx.tf.hot.pool, ctx.schema, log, {
      topic: 'data-written',
      onError: (e) => errors.push(e),
    });
    relay.start();
    let lake = await LakeWriter.open(lakeRoot);
    let consumer = new ColdStorageConsumer(log, new LakeEventSink(lake, findDataset), {
      topic: 'data-written',
      maxBatchMs: 50,
      onError: (e) => errors.push(e),
    });
    consumer.start();
    await runFeed(repositories, { symbols: 3, minutes: 30, seed: 9, batchSize: 500 });
    await repositories.companies.delete([{ symbol: 'AAPL' }]);

    // Done when the outbox is empty and the consumer has committed the last event.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const outbox = (
        await ctx.tf.hot.pool.query(`SELECT count(*)::int AS n FROM "${ctx.schema}".tierflow_outbox`)
      ).rows[0].n as number;
      if (outbox === 0 && (await log.lag('cold-storage', 'data-written')) === 0) break;
      if (Date.now() > deadline) throw new Error(`stage 1 did not catch up: outbox ${outbox}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await consumer.stop();
    await relay.stop();
    expect(errors).toEqual([]);

    await using query = await openLakeQuery(lakeRoot, allDatasets);
    const report = await reconcile({
      pool: ctx.tf.hot.pool,
      schema: ctx.schema,
      lake: query,
      datasets: allDatasets,
    });
    expect(report.clean).toBe(true);
    expect((await query.query(`SELECT count(*) AS n FROM companies WHERE symbol = 'AAPL'`))[0]).toEqual({
      n: 0n,
    });

    // A consumer that restarts from before its commit (a crash before the commit) adds nothing twice.
    const historyBefore = (await query.query(`SELECT count(*) AS n FROM trades_history`))[0];
    await log.commit('cold-storage', 'data-written', 0n);
    consumer = new ColdStorageConsumer(log, new LakeEventSink(lake, findDataset), {
      topic: 'data-written',
      maxBatchMs: 20,
    });
    consumer.start();
    const again = Date.now() + 20_000;
    while ((await log.lag('cold-storage', 'data-written')) > 0 && Date.now() < again)
      await new Promise((resolve) => setTimeout(resolve, 25));
    await consumer.stop();
    await lake.close();
    lake = await LakeWriter.open(lakeRoot);
    await lake.close();
    await query.refresh();
    expect((await query.query(`SELECT count(*) AS n FROM trades_history`))[0]).toEqual(historyBefore);
    await log.close();
  });
});
