import { describe, expect, it } from 'vitest';
import { MigrationError, defineDataset, t } from '../../src/index.ts';
import { MIGRATIONS_TABLE } from '../../src/hot/migrate.ts';
import { useTierflow } from '../support/hot.ts';

const v1 = defineDataset({
  name: 'quotes',
  version: 1,
  description: 'top of book',
  columns: { symbol: t.text(), at: t.timestamp(), bid: t.decimal(18, 6) },
  primaryKey: ['symbol', 'at'],
  eventTime: 'at',
});
const v2 = defineDataset({
  name: 'quotes',
  version: 2,
  description: 'top of book',
  columns: { symbol: t.text(), at: t.timestamp(), bid: t.decimal(18, 6), ask: t.decimal(18, 6).nullable() },
  primaryKey: ['symbol', 'at'],
  eventTime: 'at',
});

describe('migrations', () => {
  const ctx = useTierflow();

  it('created every dataset table once and records each version', async () => {
    const again = await ctx.tf.hot.migrate((await import('../../src/datasets/index.ts')).allDatasets);
    expect(again.every((o) => o.action === 'unchanged')).toBe(true);
    const { rows } = await ctx.tf.hot.pool.query(
      `SELECT dataset, version FROM "${ctx.schema}".${MIGRATIONS_TABLE} ORDER BY dataset`,
    );
    expect(rows).toHaveLength(12);
  });

  it('is idempotent and safe to run concurrently', async () => {
    const outcomes = await Promise.all([
      ctx.tf.hot.migrate([v1]),
      ctx.tf.hot.migrate([v1]),
      ctx.tf.hot.migrate([v1]),
    ]);
    expect(
      outcomes
        .flat()
        .map((o) => o.action)
        .sort(),
    ).toEqual(['created', 'unchanged', 'unchanged']);
  });

  it('evolves by adding a nullable column; old rows read back with null', async () => {
    await ctx.tf.hot.pool.query(
      `INSERT INTO "${ctx.schema}".quotes (symbol, at, bid) VALUES ('A', now(), 1)`,
    );
    const [outcome] = await ctx.tf.hot.migrate([v2]);
    expect(outcome).toMatchObject({ action: 'evolved', version: 2 });
    expect(outcome!.statements[0]).toContain('ADD COLUMN IF NOT EXISTS "ask" numeric(18,6)');
    const { rows } = await ctx.tf.hot.pool.query(`SELECT ask FROM "${ctx.schema}".quotes`);
    expect(rows).toEqual([{ ask: null }]);
    expect((await ctx.tf.hot.migrate([v2]))[0]!.action).toBe('unchanged');
  });

  it('refuses a changed declaration without a version bump, and incompatible changes', async () => {
    const sneaky = defineDataset({
      ...v2Declaration(),
      version: 2,
      columns: { ...v2Declaration().columns, extra: t.int32().nullable() },
    });
    await expect(ctx.tf.hot.migrate([sneaky])).rejects.toThrow(
      /differs from the one applied; bump its version/,
    );
    const retyped = defineDataset({
      ...v2Declaration(),
      version: 3,
      columns: { ...v2Declaration().columns, bid: t.float64() },
    });
    await expect(ctx.tf.hot.migrate([retyped])).rejects.toBeInstanceOf(MigrationError);
    const required = defineDataset({
      ...v2Declaration(),
      version: 3,
      columns: { ...v2Declaration().columns, venue: t.text() },
    });
    await expect(ctx.tf.hot.migrate([required])).rejects.toThrow(/must be nullable/);
    await expect(ctx.tf.hot.migrate([v1])).rejects.toThrow(/newer than the declared version 1/);
  });
});

function v2Declaration() {
  return {
    name: 'quotes',
    description: 'top of book',
    columns: { symbol: t.text(), at: t.timestamp(), bid: t.decimal(18, 6), ask: t.decimal(18, 6).nullable() },
    primaryKey: ['symbol', 'at'] as ('symbol' | 'at')[],
    eventTime: 'at' as const,
  };
}
