import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/core/index.ts';
import { allDatasets, findDataset, marketData } from '../../src/datasets/index.ts';
import { EmbeddedPostgresServer } from '../../src/hot/embedded-server.ts';
import { openLakeQuery } from '../../src/lake/duckdb-lake.ts';
import type { LakeBatch } from '../../src/lake/lake-batch.ts';
import { LakeWriter } from '../../src/lake/lake-writer.ts';
import { reconcile } from '../../src/lake/reconcile.ts';
import { createFileLog } from '../../src/log/file/index.ts';
import { RecordedMetrics } from '../../src/observe/recorded-metrics.ts';
import type { LakeSink } from '../../src/cold/event-sink.ts';
import { LakeEventSink } from '../../src/cold/event-sink.ts';
import { createTierflow } from '../../src/tierflow.ts';
import { ColdStorageProcessor, WAL_COLD_GROUP } from '../../src/wal/cold-storage-processor.ts';
import { WAL_TOPIC } from '../../src/wal/wal-entry.ts';
import { until } from '../support/until.ts';

const bars = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({
    symbol: 'DOWN',
    interval: '1m',
    bucket_start: new Date(Date.UTC(2024, 2, 4) + (from + i) * 60_000),
    open: 1,
    high: 1,
    low: 1,
    close: 1,
    source: 'test',
  }));

describe('stage 2 with PostgreSQL and the lake both down', () => {
  // A server of its own, so stopping it does not disturb the other test files.
  const dataDir = path.resolve(`.tierflow/test-tiers-down-${randomBytes(4).toString('hex')}`);
  const server = new EmbeddedPostgresServer(dataDir);
  const dirs: string[] = [];
  afterAll(async () => {
    await server.stop();
    for (const dir of [dataDir, ...dirs]) await rm(dir, { recursive: true, force: true });
  });

  it("acknowledges writes with ack 'wal' while both tiers are down, and both catch up when they return", async () => {
    const { url } = await server.start();
    const dir = await mkdtemp(path.join(tmpdir(), 'tierflow-tiers-down-'));
    dirs.push(dir);
    const log = await createFileLog(path.join(dir, 'log'));
    const metrics = new RecordedMetrics();
    const tf = await createTierflow({ databaseUrl: url, mode: 'wal', schema: 'down', log, metrics });
    const lakeRoot = path.join(dir, 'lake');
    const lake = await LakeWriter.open(lakeRoot);
    let lakeDown = false;
    const flaky: LakeSink = {
      writeBatch: (dataset: Dataset<unknown, unknown>, batch: LakeBatch) =>
        lakeDown
          ? Promise.reject(Object.assign(new Error('EIO: the lake disk is gone'), { code: 'EIO' }))
          : lake.writeBatch(dataset, batch),
    };
    const coldErrors: unknown[] = [];
    const cold = new ColdStorageProcessor(log, new LakeEventSink(flaky, findDataset), {
      maxBatchMs: 20,
      backoffMs: 10,
      maxBackoffMs: 100,
      breaker: { consecutiveFailures: 3, halfOpenAfterMs: 200 },
      onError: (e) => coldErrors.push(e),
    });
    cold.start();
    const repo = tf.repositories.marketData;
    await repo.upsert(bars(0, 10));
    await until(
      () => cold.rowsCommitted === 10 && tf.wal!.hotProcessor.rowsApplied === 10,
      'the first batch',
    );

    await server.stop();
    lakeDown = true;
    for (let i = 1; i <= 10; i++) await repo.upsert(bars(i * 10, 10));
    const last = (await log.stats(WAL_TOPIC)).last!;
    // Nothing applied anywhere, everything durable in the WAL, failures reported.
    await until(
      () =>
        metrics.take().some(([, name, , labels]) => name === 'write_errors_total' && labels?.tier === 'hot'),
      'a hot processor failure',
    );
    await until(() => coldErrors.length >= 3, 'cold failures');
    expect(tf.wal!.hotProcessor.appliedThrough! < last).toBe(true);
    expect(await log.lag(WAL_COLD_GROUP, WAL_TOPIC)).toBeGreaterThan(0);

    await server.start();
    lakeDown = false;
    await until(() => tf.wal!.hotProcessor.appliedThrough === last, 'the hot processor to catch up', 30_000);
    await until(
      async () => (await log.lag(WAL_COLD_GROUP, WAL_TOPIC)) === 0,
      'the cold processor to catch up',
      30_000,
    );
    await cold.stop();
    await lake.close();
    expect(await repo.count()).toBe(110);
    await using query = await openLakeQuery(lakeRoot, allDatasets);
    const report = await reconcile({
      pool: tf.hot.pool,
      schema: 'down',
      lake: query,
      datasets: [marketData],
    });
    expect(report.clean).toBe(true);
    await tf.close();
    await log.close();
  });
});
