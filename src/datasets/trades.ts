import { defineDataset, t } from '../core/index.ts';

/** Individual prints from an exchange feed. */
export const trades = defineDataset({
  name: 'trades',
  version: 1,
  description: 'Trade prints',
  columns: {
    symbol: t.text({ maxLength: 32 }),
    exchange: t.text({ maxLength: 16 }),
    trade_id: t.text({ maxLength: 64 }),
    event_time: t.timestamp(),
    price: t.decimal(18, 6).min(0),
    size: t.decimal(24, 8).min(0),
    conditions: t.json().nullable().describe('sale condition codes, as an array of strings'),
  },
  primaryKey: ['symbol', 'exchange', 'trade_id'],
  eventTime: 'event_time',
});
