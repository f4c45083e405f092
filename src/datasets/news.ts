import { defineDataset, t } from '../core/index.ts';

export const news = defineDataset({
  name: 'news',
  version: 1,
  description: 'News articles and the symbols they mention',
  columns: {
    id: t.text({ maxLength: 64 }),
    published_at: t.timestamp(),
    source: t.text({ maxLength: 64 }),
    headline: t.text({ maxLength: 1000 }),
    summary: t.text({ maxLength: 10_000 }).nullable(),
    author: t.text({ maxLength: 256 }).nullable(),
    url: t.text({ maxLength: 2048 }).nullable(),
    symbols: t.json().describe('array of ticker symbols'),
  },
  primaryKey: ['id'],
  eventTime: 'published_at',
});
