import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { allDatasets } from '../../src/datasets/index.ts';
import { marketFeed } from '../../src/feed/market-feed.ts';
import { runFeed } from '../../src/feed/run-feed.ts';
import { useTierflow } from '../support/hot.ts';

const digest = (seed: number) =>
  createHash('sha256')
    .update(
      JSON.stringify([...marketFeed({ symbols: 3, minutes: 20, seed })], (_k, v: unknown) =>
        typeof v === 'bigint' ? String(v) : v,
      ),
    )
    .digest('hex');

describe('demo feed', () => {
  const ctx = useTierflow();

  it('is deterministic: the same seed gives the same rows, another seed other rows', () => {
    expect(digest(7)).toBe(digest(7));
    expect(digest(7)).not.toBe(digest(8));
  });

  it('writes valid rows into every one of the twelve datasets, and bars agree with trades', async () => {
    const summary = await runFeed(ctx.tf.repositories, { symbols: 4, minutes: 30, seed: 1, batchSize: 500 });
    for (const dataset of allDatasets) {
      expect(summary.rows[dataset.name], dataset.name).toBeGreaterThan(0);
      expect(await ctx.tf.repository(dataset.name).count(), dataset.name).toBe(summary.rows[dataset.name]);
    }
    const { rows } = await ctx.tf.hot.pool.query(
      `SELECT b.symbol, b.bucket_start, b.volume, b.trade_count, sum(t.size)::bigint AS traded, count(*)::int AS n, max(t.price) AS hi, min(t.price) AS lo, b.high, b.low
       FROM "${ctx.schema}".market_data b JOIN "${ctx.schema}".trades t
         ON t.symbol = b.symbol AND t.event_time >= b.bucket_start AND t.event_time < b.bucket_start + interval '1 minute'
       GROUP BY b.symbol, b.bucket_start, b.volume, b.trade_count, b.high, b.low`,
    );
    expect(rows).toHaveLength(4 * 30);
    for (const r of rows) {
      expect(r.traded).toBe(r.volume);
      expect(r.n).toBe(r.trade_count);
      expect(r.hi).toBe(r.high);
      expect(r.lo).toBe(r.low);
    }
  });
});
