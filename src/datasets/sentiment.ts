import { defineDataset, t } from '../core/index.ts';

/** Sentiment scored from news and filings, aggregated per symbol, source and time. */
export const sentiment = defineDataset({
  name: 'sentiment',
  version: 1,
  description: 'News sentiment scores',
  columns: {
    symbol: t.text({ maxLength: 32 }),
    source: t.text({ maxLength: 64 }),
    as_of: t.timestamp(),
    score: t.float64().min(-1).max(1),
    magnitude: t.float64().min(0).nullable(),
    article_count: t.int32().min(0),
    model: t.text({ maxLength: 64 }),
  },
  primaryKey: ['symbol', 'source', 'as_of'],
  eventTime: 'as_of',
});
