import { defineDataset, t } from '../core/index.ts';

/** Analyst rating actions. */
export const ratings = defineDataset({
  name: 'ratings',
  version: 1,
  description: 'Analyst ratings and price targets',
  columns: {
    symbol: t.text({ maxLength: 32 }),
    firm: t.text({ maxLength: 128 }),
    rated_at: t.timestamp(),
    action: t.text({ oneOf: ['initiate', 'upgrade', 'downgrade', 'reiterate', 'suspend'] }),
    rating_from: t.text({ maxLength: 32 }).nullable(),
    rating_to: t.text({ maxLength: 32 }),
    price_target: t.decimal(18, 4).min(0).nullable(),
    analyst: t.text({ maxLength: 128 }).nullable(),
  },
  primaryKey: ['symbol', 'firm', 'rated_at'],
  eventTime: 'rated_at',
});
