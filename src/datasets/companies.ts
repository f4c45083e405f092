import { defineDataset, t } from '../core/index.ts';

export const companies = defineDataset({
  name: 'companies',
  version: 1,
  description: 'Company reference data',
  columns: {
    symbol: t.text({ maxLength: 32 }),
    name: t.text({ maxLength: 256 }),
    exchange: t.text({ maxLength: 16 }),
    sector: t.text({ maxLength: 64 }).nullable(),
    industry: t.text({ maxLength: 128 }).nullable(),
    country: t.text({ maxLength: 2 }).nullable(),
    currency: t.text({ maxLength: 3 }),
    market_cap: t.decimal(24, 2).min(0).nullable(),
    employees: t.int32().min(0).nullable(),
    ipo_date: t.date().nullable(),
    active: t.bool(),
    updated_at: t.timestamp(),
  },
  primaryKey: ['symbol'],
  eventTime: 'updated_at',
});
