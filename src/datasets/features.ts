import { defineDataset, t } from '../core/index.ts';

/** ML features: one vector of named values per entity, feature set and time. */
export const features = defineDataset({
  name: 'features',
  version: 1,
  description: 'ML feature vectors',
  columns: {
    entity: t.text({ maxLength: 64 }),
    feature_set: t.text({ maxLength: 64 }),
    event_time: t.timestamp(),
    feature_set_version: t.int32().min(1),
    values: t.json().describe('object of feature name to number'),
  },
  primaryKey: ['entity', 'feature_set', 'event_time'],
  eventTime: 'event_time',
  checks: [
    (row) => {
      const v = row.values;
      if (typeof v !== 'object' || v === null || Array.isArray(v))
        return { field: 'values', reason: 'must be an object' };
      for (const [name, value] of Object.entries(v)) {
        if (value !== null && (typeof value !== 'number' || !Number.isFinite(value))) {
          return { field: 'values', reason: `feature "${name}" is not a finite number or null` };
        }
      }
      return undefined;
    },
  ],
});
