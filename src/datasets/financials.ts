import { defineDataset, t } from '../core/index.ts';

export const FISCAL_PERIODS = ['Q1', 'Q2', 'Q3', 'Q4', 'FY'] as const;

/** Reported figures from income statement, balance sheet and cash-flow statement. */
export const financials = defineDataset({
  name: 'financials',
  version: 1,
  description: 'Reported financial statements',
  columns: {
    symbol: t.text({ maxLength: 32 }),
    fiscal_year: t.int32().min(1900).max(2200),
    fiscal_period: t.text({ oneOf: FISCAL_PERIODS }),
    currency: t.text({ maxLength: 3 }),
    revenue: t.decimal(24, 2).nullable(),
    gross_profit: t.decimal(24, 2).nullable(),
    operating_income: t.decimal(24, 2).nullable(),
    net_income: t.decimal(24, 2).nullable(),
    eps_diluted: t.decimal(12, 4).nullable(),
    total_assets: t.decimal(24, 2).nullable(),
    total_liabilities: t.decimal(24, 2).nullable(),
    operating_cash_flow: t.decimal(24, 2).nullable(),
    shares_outstanding: t.int64().min(0).nullable(),
    reported_at: t.timestamp(),
  },
  primaryKey: ['symbol', 'fiscal_year', 'fiscal_period'],
  eventTime: 'reported_at',
});
