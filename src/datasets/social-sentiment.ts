import { defineDataset, t } from '../core/index.ts';

/** Social-media mention counts and sentiment per symbol, platform and interval. */
export const socialSentiment = defineDataset({
  name: 'social_sentiment',
  version: 1,
  description: 'Social media sentiment',
  columns: {
    symbol: t.text({ maxLength: 32 }),
    platform: t.text({ oneOf: ['reddit', 'x', 'stocktwits', 'discord', 'telegram'] }),
    as_of: t.timestamp(),
    mentions: t.int32().min(0),
    positive: t.int32().min(0),
    negative: t.int32().min(0),
    score: t.float64().min(-1).max(1),
  },
  primaryKey: ['symbol', 'platform', 'as_of'],
  eventTime: 'as_of',
  checks: [
    (row) =>
      (row.positive as number) + (row.negative as number) > (row.mentions as number)
        ? { field: 'positive', reason: 'positive + negative exceeds mentions' }
        : undefined,
  ],
});
