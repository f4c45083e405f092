import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/core/index.ts';
import { allDatasets, findDataset, marketData } from '../../src/datasets/index.ts';
import { Repository } from '../../src/hot/repository.ts';
import { openLakeQuery } from '../../src/lake/duckdb-lake.ts';
import type { LakeBatch } from '../../src/lake/lake-batch.ts';
import { LakeWriter } from '../../src/lake/lake-writer.ts';
import { reconcile } from '../../src/lake/reconcile.ts';
import { createFileLog } from '../../src/log/file/index.ts';
import { ColdStorageConsumer } from '../../src/cold/cold-storage-consumer.ts';
import { CommitReceipts } from '../../src/pipeline/commit-receipts.ts';
import type { LakeSink } from '../../src/cold/event-sink.ts';
import { LakeEventSink } from '../../src/cold/event-sink.ts';
import { DualStorageWriter } from '../../src/pipeline/dual-storage-writer.ts';
import { ensureStage1Schema } from '../../src/pipeline/stage1-schema.ts';
import { OutboxRelay } from '../../src/pipeline/outbox-relay.ts';
import { useTierflow } from '../support/hot.ts';
import { until } from '../support/until.ts';

const bars = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({
    symbol: `S${(from + i) % 4}`,
    interval: '1m',
    bucket_start: new Date(Date.UTC(2024, 2, 4, 14, 30) + Math.floor((from + i) / 4) * 60_000),
    open: 10,
    high: 11,
    low: 9,
    close: 10,
    volume: from + i,
    source: 'test',
  }));

describe('stage 1 with the cold tier failing', () => {
  const ctx = useTierflow();
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tierflow-outage-'));
    await ensureStage1Schema(ctx.tf.hot.pool, ctx.schema);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('opens the cold breaker, keeps hot writes going, grows the backlog, then drains it and reconciles clean', async () => {
    const log = await createFileLog(path.join(dir, 'log'));
    const lakeRoot = path.join(dir, 'lake');
    const lake = await LakeWriter.open(lakeRoot);
    let broken = true;
    const flaky: LakeSink = {
      writeBatch: (dataset: Dataset<unknown, unknown>, batch: LakeBatch) =>
        broken
          ? Promise.reject(Object.assign(new Error('EIO: the lake disk is gone'), { code: 'EIO' }))
          : lake.writeBatch(dataset, batch),
    };
    const failures: unknown[] = [];
    const writer = new DualStorageWriter(ctx.tf.hot, { topic: 'events' });
    // The fast path: events appended to the log inside the hot transactions.
    writer.publishTo(log);
    const repo = new Repository(marketData, writer, ctx.tf.hot);
    const relay = new OutboxRelay(ctx.tf.hot.pool, ctx.schema, log, { topic: 'events' });
    relay.start();
    const consumer = new ColdStorageConsumer(log, new LakeEventSink(flaky, findDataset), {
      topic: 'events',
      commits: new CommitReceipts(ctx.tf.hot.pool, ctx.schema),
      maxBatchMs: 20,
      backoffMs: 10,
      maxBackoffMs: 50,
      breaker: { consecutiveFailures: 3, halfOpenAfterMs: 300 },
      onError: (e) => failures.push(e),
    });
    consumer.start();

    for (let i = 0; i < 10; i++) await repo.upsert(bars(i * 40, 40));
    await until(() => consumer.coldBreaker.state !== 'closed', 'the cold breaker to open');
    // Hot writes go on while the cold tier is down, and their events wait in the log.
    for (let i = 10; i < 20; i++) await repo.upsert(bars(i * 40, 40));
    expect(await repo.count()).toBe(800);
    await until(async () => (await log.lag('cold-storage', 'events')) === 20, 'all events to reach the log');
    expect(failures.length).toBeGreaterThanOrEqual(3);
    // While open, attempts fail fast without touching the lake (a busy machine may first see a
    // half-open probe fail, so this is waited for rather than sampled).
    await until(
      () => failures.some((e) => (e as { code?: string }).code === 'CIRCUIT_OPEN'),
      'an attempt refused by the open breaker',
    );

    expect(await new CommitReceipts(ctx.tf.hot.pool, ctx.schema).count()).toBe(20);
    broken = false;
    await until(async () => (await log.lag('cold-storage', 'events')) === 0, 'the backlog to drain');
    await until(() => consumer.coldBreaker.state === 'closed', 'the cold breaker to close');
    // Receipts are cleared once their events are in the lake (just after the group commit).
    const receipts = new CommitReceipts(ctx.tf.hot.pool, ctx.schema);
    await until(async () => (await receipts.count()) === 0, 'the receipts to be cleared');
    await consumer.stop();
    await relay.stop();
    await lake.close();
    await log.close();

    await using query = await openLakeQuery(lakeRoot, allDatasets);
    const report = await reconcile({
      pool: ctx.tf.hot.pool,
      schema: ctx.schema,
      lake: query,
      datasets: [marketData],
    });
    expect(report.clean).toBe(true);
    expect((await query.query('SELECT count(*) AS n FROM market_data'))[0]).toEqual({ n: 800n });
  });

  it('stops cleanly while the lake is still failing, leaving the events in the log', async () => {
    const log = await createFileLog(path.join(dir, 'stop-log'));
    await log.append('events', [{ key: 'market_data', payload: new TextEncoder().encode('{}') }]);
    const errors: unknown[] = [];
    const consumer = new ColdStorageConsumer(
      log,
      {
        write: () => Promise.reject(Object.assign(new Error('EIO: the lake disk is gone'), { code: 'EIO' })),
      },
      { topic: 'events', maxBatchMs: 10, backoffMs: 5, onError: (e) => errors.push(e) },
    );
    consumer.start();
    await until(() => errors.length >= 2, 'the failing lake writes');
    // The batch it could not write is given up, reported, and left uncommitted in the log.
    await consumer.stop();
    expect(
      errors.every(
        (e) => (e as { code?: string }).code === 'EIO' || (e as { code?: string }).code === 'CIRCUIT_OPEN',
      ),
    ).toBe(true);
    expect(await log.lag('cold-storage', 'events')).toBe(1);
    await log.close();
  });
});
