import { defineDataset, t } from '../core/index.ts';

export const dividends = defineDataset({
  name: 'dividends',
  version: 1,
  description: 'Declared dividends',
  columns: {
    symbol: t.text({ maxLength: 32 }),
    ex_date: t.date(),
    kind: t.text({ oneOf: ['cash', 'stock', 'special'] }),
    amount: t.decimal(18, 6).min(0),
    currency: t.text({ maxLength: 3 }),
    record_date: t.date().nullable(),
    pay_date: t.date().nullable(),
    frequency: t.text({ oneOf: ['annual', 'semiannual', 'quarterly', 'monthly', 'irregular'] }).nullable(),
    declared_at: t.timestamp(),
  },
  primaryKey: ['symbol', 'ex_date', 'kind'],
  eventTime: 'declared_at',
});
