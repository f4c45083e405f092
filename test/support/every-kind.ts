import type { Dataset } from '../../src/core/index.ts';
import { defineDataset, t } from '../../src/core/index.ts';

/** One column of each kind, every column but the key nullable: what the codec tests encode. */
export const everyKind = defineDataset({
  name: 'every_kind',
  version: 3,
  description: 'one column of each kind',
  columns: {
    id: t.text(),
    at: t.timestamp(),
    n32: t.int32().nullable(),
    n64: t.int64().nullable(),
    f: t.float64().nullable(),
    price: t.decimal(18, 6).nullable(),
    flag: t.bool().nullable(),
    listed: t.date().nullable(),
    doc: t.json().nullable(),
    note: t.text().nullable(),
  },
  primaryKey: ['id', 'at'],
  eventTime: 'at',
});

/** The same, typed as the pipeline takes any dataset. */
export const everyKindDataset = everyKind as unknown as Dataset<unknown, unknown>;
