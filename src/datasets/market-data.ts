import { defineDataset, t } from '../core/index.ts';
import { ohlcConsistent } from './checks.ts';

export const BAR_INTERVALS = ['1m', '5m', '15m', '1h', '1d'] as const;

/** OHLCV bars: one row per symbol, interval and bucket. */
export const marketData = defineDataset({
  name: 'market_data',
  version: 1,
  description: 'OHLCV bars per symbol and interval',
  columns: {
    symbol: t.text({ maxLength: 32 }),
    interval: t.text({ oneOf: BAR_INTERVALS }),
    bucket_start: t.timestamp(),
    open: t.decimal(18, 6).min(0),
    high: t.decimal(18, 6).min(0),
    low: t.decimal(18, 6).min(0),
    close: t.decimal(18, 6).min(0),
    volume: t
      .int64()
      .min(0)
      .nullable()
      .describe('shares or contracts; null where the source has none (indices)'),
    vwap: t.decimal(18, 6).min(0).nullable(),
    trade_count: t.int32().min(0).nullable(),
    source: t.text({ maxLength: 32 }),
  },
  primaryKey: ['symbol', 'interval', 'bucket_start'],
  eventTime: 'bucket_start',
  checks: [ohlcConsistent],
});
