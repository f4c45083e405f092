import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { marketData } from '../../src/datasets/index.ts';
import { Repository } from '../../src/hot/repository.ts';
import type { LogEntryInput } from '../../src/log/log.ts';
import { DualStorageWriter } from '../../src/pipeline/dual-storage-writer.ts';
import { outboxChannel } from '../../src/pipeline/outbox.ts';
import { OutboxRelay } from '../../src/pipeline/outbox-relay.ts';
import { ensureStage1Schema } from '../../src/pipeline/stage1-schema.ts';
import type { Tierflow } from '../../src/tierflow.ts';
import { createTierflow } from '../../src/tierflow.ts';
import { dropSchema } from '../support/hot.ts';
import { until } from '../support/until.ts';

describe('the outbox NOTIFY channel', () => {
  it('keeps the name earlier versions used while it fits in 63 bytes', () => {
    expect(outboxChannel('tierflow')).toBe('tierflow_outbox_tierflow');
    const longest = 'a'.repeat(63 - 'tierflow_outbox_'.length);
    expect(outboxChannel(longest)).toBe(`tierflow_outbox_${longest}`);
  });

  it('hashes a longer one to fit, keeping schemas that share a long prefix apart', () => {
    const a = `${'s'.repeat(62)}a`;
    const b = `${'s'.repeat(62)}b`;
    for (const schema of [a, b, 'x'.repeat(48), 'ü'.repeat(40)]) {
      const channel = outboxChannel(schema);
      expect(Buffer.byteLength(channel)).toBeLessThanOrEqual(63);
      expect(channel).toMatch(/^tierflow_outbox_[a-z0-9_]*_[0-9a-f]{16}$/);
      expect(outboxChannel(schema)).toBe(channel);
    }
    expect(outboxChannel(a)).not.toBe(outboxChannel(b));
  });
});

describe('stage 1 in a schema with a 63-character name', () => {
  // The longest name PostgreSQL keeps: `tierflow_outbox_<schema>` would be 79 bytes.
  const schema = `t_${randomBytes(5).toString('hex')}_${'x'.repeat(50)}`;
  const url = inject('databaseUrl');
  let tf: Tierflow;
  beforeAll(async () => {
    expect(schema).toHaveLength(63);
    tf = await createTierflow({ databaseUrl: url, schema, mode: 'hot-only' });
    await ensureStage1Schema(tf.hot.pool, schema);
  });
  afterAll(async () => {
    await tf?.close();
    await dropSchema(url, schema);
  });

  it('writes through the outbox, and its NOTIFY wakes a relay that would otherwise poll in a minute', async () => {
    const appended: LogEntryInput[] = [];
    const errors: unknown[] = [];
    const relay = new OutboxRelay(
      tf.hot.pool,
      schema,
      {
        append: async (_topic, entries) => {
          appended.push(...entries);
          return entries.map((_, i) => BigInt(appended.length - entries.length + i));
        },
      },
      { topic: 'events', pollMs: 60_000, onError: (e) => errors.push(e) },
    );
    const writer = new DualStorageWriter(tf.hot);
    const bars = new Repository(marketData, writer, tf.hot);
    relay.start();
    try {
      // Listening, drained what was there (nothing), and waiting a minute for its next poll.
      await until(() => relay.sleeping, 'the relay to wait for a notification', 10_000);
      await bars.upsert([
        {
          symbol: 'LONG',
          interval: '1m',
          bucket_start: new Date(Date.UTC(2024, 2, 4, 14, 30)),
          open: 1,
          high: 1,
          low: 1,
          close: 1,
          source: 'test',
        },
      ]);
      await until(() => appended.length === 1, 'the notified relay to move the event', 10_000);
      expect(errors).toEqual([]);
    } finally {
      await relay.stop();
      await writer.close();
    }
  });
});
