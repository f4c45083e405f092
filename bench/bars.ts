import { Random } from '../src/feed/random.ts';

export type BarInput = Record<string, string | number>;

/**
 * Deterministic market_data bars for the benchmarks: row i is symbol `SYM<i % symbols>` at minute
 * i / symbols, with a consistent OHLC (low ≤ open, close ≤ high). `shift` moves every price, to
 * write the same keys again as updates.
 */
export function syntheticBars(options: {
  first?: number;
  count: number;
  symbols?: number;
  shift?: number;
  seed?: number;
}): BarInput[] {
  const { first = 0, count, symbols = 1_000, shift = 0 } = options;
  const random = new Random((options.seed ?? 7) + first);
  const start = Date.UTC(2024, 0, 2, 14, 30);
  const rows: BarInput[] = new Array(count);
  for (let n = 0; n < count; n++) {
    const i = first + n;
    const open = 50 + random.next() * 400 + shift;
    const close = open * (1 + (random.next() - 0.5) * 0.01);
    const high = Math.max(open, close) * 1.001;
    const low = Math.min(open, close) * 0.999;
    rows[n] = {
      symbol: `SYM${i % symbols}`,
      interval: '1m',
      bucket_start: new Date(start + Math.floor(i / symbols) * 60_000).toISOString(),
      open: open.toFixed(4),
      high: high.toFixed(4),
      low: low.toFixed(4),
      close: close.toFixed(4),
      volume: 100 + Math.floor(random.next() * 100_000),
      vwap: ((high + low) / 2).toFixed(4),
      trade_count: 1 + Math.floor(random.next() * 500),
      source: 'bench',
    };
  }
  return rows;
}
