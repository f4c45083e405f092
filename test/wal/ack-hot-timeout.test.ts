import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findDataset, marketData } from '../../src/datasets/index.ts';
import { createFileLog } from '../../src/log/file/index.ts';
import { ensureCheckpoints } from '../../src/wal/checkpoints.ts';
import { HotStorageProcessor } from '../../src/wal/hot-storage-processor.ts';
import { HotAckTimeoutError, WalWriter } from '../../src/wal/wal-writer.ts';
import { useTierflow } from '../support/hot.ts';

describe("ack 'hot' that times out", () => {
  const ctx = useTierflow({ mode: 'hot-only' });
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('fails with HOT_ACK_TIMEOUT and leaves no waiter behind', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tierflow-ackhot-'));
    dirs.push(dir);
    await using log = await createFileLog(path.join(dir, 'log'));
    await ensureCheckpoints(ctx.tf.hot.pool, ctx.schema);
    // Never started: nothing applies, as when PostgreSQL is down for longer than the timeout.
    const idle = new HotStorageProcessor(ctx.tf.hot, log, { datasetOf: findDataset });
    const writer = new WalWriter(log, { ack: 'hot', hotApplied: idle, hotAckTimeoutMs: 50 });
    const bar = {
      symbol: 'AAA',
      interval: '1m',
      bucket_start: new Date(Date.UTC(2024, 2, 4, 14, 30)),
      open: '1',
      high: '1',
      low: '1',
      close: '1',
      source: 'test',
    };
    for (let i = 0; i < 3; i++)
      await expect(writer.upsert(marketData as never, [bar])).rejects.toBeInstanceOf(HotAckTimeoutError);
    expect(idle.waiting).toBe(0);
  });
});
