import { defineDataset, t } from '../core/index.ts';

/** Snapshots of crypto assets: price, capitalisation and supply at a point in time. */
export const cryptocurrencies = defineDataset({
  name: 'cryptocurrencies',
  version: 1,
  description: 'Crypto asset market snapshots',
  columns: {
    symbol: t.text({ maxLength: 32 }),
    as_of: t.timestamp(),
    name: t.text({ maxLength: 128 }),
    price_usd: t.decimal(28, 10).min(0),
    market_cap_usd: t.decimal(28, 2).min(0).nullable(),
    volume_24h_usd: t.decimal(28, 2).min(0).nullable(),
    circulating_supply: t.decimal(38, 8).min(0).nullable(),
    max_supply: t.decimal(38, 8).min(0).nullable(),
    rank: t.int32().min(1).nullable(),
  },
  primaryKey: ['symbol', 'as_of'],
  eventTime: 'as_of',
});
