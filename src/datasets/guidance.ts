import { defineDataset, t } from '../core/index.ts';
import { ordered } from './checks.ts';
import { FISCAL_PERIODS } from './financials.ts';

/** Company forecasts: a range for one metric of one future period, as issued at a time. */
export const guidance = defineDataset({
  name: 'guidance',
  version: 1,
  description: 'Company guidance ranges',
  columns: {
    symbol: t.text({ maxLength: 32 }),
    fiscal_year: t.int32().min(1900).max(2200),
    fiscal_period: t.text({ oneOf: FISCAL_PERIODS }),
    metric: t.text({ oneOf: ['revenue', 'eps', 'operating_margin', 'capex', 'free_cash_flow'] }),
    issued_at: t.timestamp(),
    low: t.decimal(24, 4),
    high: t.decimal(24, 4),
    currency: t.text({ maxLength: 3 }).nullable(),
    status: t.text({ oneOf: ['raised', 'lowered', 'maintained', 'initiated', 'withdrawn'] }),
  },
  primaryKey: ['symbol', 'fiscal_year', 'fiscal_period', 'metric', 'issued_at'],
  eventTime: 'issued_at',
  checks: [ordered('low', 'high')],
});
