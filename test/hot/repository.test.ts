import { describe, expect, it, beforeAll } from 'vitest';
import { HotWriteError, Repository, ValidationError, defineDataset, t } from '../../src/index.ts';
import type { UpsertStrategy } from '../../src/index.ts';
import { useTierflow } from '../support/hot.ts';

const allTypes = defineDataset({
  name: 'all_types',
  version: 1,
  description: 'every column kind',
  columns: {
    id: t.text({ maxLength: 64 }),
    at: t.timestamp(),
    i32: t.int32().nullable(),
    i64: t.int64().nullable(),
    f64: t.float64().nullable(),
    money: t.decimal(38, 10).nullable(),
    flag: t.bool().nullable(),
    on_day: t.date().nullable(),
    doc: t.json().nullable(),
    note: t.text().nullable(),
  },
  primaryKey: ['id'],
  eventTime: 'at',
});

const extremes = [
  {
    id: 'max',
    at: '9999-12-31T23:59:59.999999Z',
    i32: 2 ** 31 - 1,
    i64: 2n ** 63n - 1n,
    f64: Number.MAX_VALUE,
    money: '9999999999999999999999999999.9999999999',
    flag: true,
    on_day: '9999-12-31',
    doc: { nested: { list: [1, 'two', null, true] }, unicode: 'ü 漢字 🚀' },
    note: '\'; DROP TABLE all_types; -- \\ " \t tab\nnewline',
  },
  {
    id: 'min',
    at: '0001-01-01T00:00:00.000001Z',
    i32: -(2 ** 31),
    i64: -(2n ** 63n),
    f64: -Number.MIN_VALUE,
    money: '-0.0000000001',
    flag: false,
    on_day: '0001-01-01',
    doc: [],
    note: '',
  },
  {
    id: 'nulls',
    at: '2024-02-29T12:00:00.5Z',
    i32: null,
    i64: null,
    f64: null,
    money: null,
    flag: null,
    on_day: null,
    doc: null,
    note: null,
  },
  {
    id: 'unicode ключ 🔑',
    at: '2024-03-04T14:30:00.123456Z',
    i32: 0,
    i64: 0n,
    f64: 0.1 + 0.2,
    money: '0',
    flag: true,
    on_day: '2024-02-29',
    doc: 'a json string',
    note: 'NULL',
  },
];

function bars(n: number, offsetMinutes = 0, close = 100) {
  return Array.from({ length: n }, (_, i) => ({
    symbol: `S${i % 7}`,
    interval: '1m',
    bucket_start: new Date(Date.UTC(2024, 2, 4, 14, 30) + (Math.floor(i / 7) + offsetMinutes) * 60_000),
    open: close,
    high: close + 1,
    low: close - 1,
    close,
    volume: 1000 + i,
    source: 'test',
  }));
}

describe.each(['copy', 'unnest'] as UpsertStrategy[])(
  'repository with the %s upsert strategy',
  (strategy) => {
    const ctx = useTierflow({ upsertStrategy: strategy });
    let types: Repository<(typeof allTypes)['__row'] & object, (typeof allTypes)['__input'] & object>;

    beforeAll(async () => {
      await ctx.tf.hot.migrate([allTypes]);
      types = new Repository(allTypes, ctx.tf.writer, ctx.tf.hot) as typeof types;
    });

    it('round-trips every column kind, with extremes, nulls, unicode and SQL-looking text verbatim', async () => {
      const result = await types.upsert(extremes);
      expect(result).toEqual({ dataset: 'all_types', rows: 4, applied: 4 });
      for (const row of extremes) {
        const stored = await types.get({ id: row.id });
        expect(stored).toEqual({
          ...row,
          at: row.at.length === 27 ? row.at : row.at.replace('.5Z', '.500000Z'),
          money: row.money === null ? null : row.money === '0' ? '0.0000000000' : row.money,
        });
      }
      const tables = await ctx.tf.hot.pool.query(
        `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = $1`,
        [ctx.schema],
      );
      expect(tables.rows[0].n).toBeGreaterThanOrEqual(13);
    });

    it('upserts by primary key: fresh keys insert, the same keys update, identical rows are left alone', async () => {
      const repo = ctx.tf.repositories.marketData;
      expect((await repo.upsert(bars(70))).applied).toBe(70);
      expect((await repo.upsert(bars(70))).applied).toBe(0);
      const changed = await repo.upsert(bars(70, 0, 200));
      expect(changed.applied).toBe(70);
      expect(await repo.count()).toBe(70);
      const row = await repo.get({ symbol: 'S3', interval: '1m', bucket_start: '2024-03-04T14:30:00Z' });
      expect(row?.close).toBe('200.000000');
    });

    it('collapses duplicate keys within a batch: the last row wins', async () => {
      const repo = ctx.tf.repositories.trades;
      const trade = {
        symbol: 'DUP',
        exchange: 'XNAS',
        trade_id: '1',
        event_time: '2024-03-04T14:30:00Z',
        size: 1,
        conditions: null,
      };
      const result = await repo.upsert([
        { ...trade, price: 1 },
        { ...trade, price: 2 },
        { ...trade, price: 3 },
      ]);
      expect(result).toMatchObject({ rows: 3, applied: 1 });
      expect((await repo.get(trade))?.price).toBe('3.000000');
      expect(
        await repo.upsert([
          { ...trade, price: 4 },
          { ...trade, price: 5 },
        ]),
      ).toMatchObject({ applied: 1 });
      expect((await repo.get(trade))?.price).toBe('5.000000');
    });

    it('writes nothing of a batch with one invalid row', async () => {
      const repo = ctx.tf.repositories.marketData;
      const batch = bars(500, 1000);
      (batch[321] as Record<string, unknown>).volume = -1;
      const before = await repo.count();
      await expect(repo.upsert(batch)).rejects.toMatchObject({
        name: 'ValidationError',
        dataset: 'market_data',
        rowIndex: 321,
        field: 'volume',
      });
      expect(await repo.count()).toBe(before);
    });

    it('rolls back the whole batch when PostgreSQL refuses part of it', async () => {
      const repo = ctx.tf.repositories.ratings;
      const table = `"${ctx.schema}"."ratings"`;
      await ctx.tf.hot.pool.query(
        `CREATE OR REPLACE FUNCTION "${ctx.schema}".refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
         IF NEW.firm = 'Refused' THEN RAISE EXCEPTION 'refused by test trigger'; END IF; RETURN NEW; END $$`,
      );
      await ctx.tf.hot.pool.query(
        `CREATE TRIGGER refuse BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION "${ctx.schema}".refuse()`,
      );
      const rows = Array.from({ length: 12_000 }, (_, i) => ({
        symbol: 'AAPL',
        firm: i === 11_500 ? 'Refused' : `Firm ${i}`,
        rated_at: '2024-03-04T14:30:00Z',
        action: 'initiate',
        rating_to: 'Buy',
      }));
      const error = await repo.upsert(rows).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HotWriteError);
      expect((error as HotWriteError).message).toContain('refused by test trigger');
      expect(await repo.count()).toBe(0);
      await ctx.tf.hot.pool.query(`DROP TRIGGER refuse ON ${table}`);
    });

    it('never lets an older sequence overwrite a newer one, for upserts and deletes', async () => {
      const repo = ctx.tf.repositories.companies;
      const company = (name: string) => ({
        symbol: 'SEQ',
        name,
        exchange: 'XNAS',
        currency: 'USD',
        active: true,
        updated_at: '2024-03-04T00:00:00Z',
      });
      await repo.upsert([company('v10')], { sequences: [10n] });
      expect((await repo.upsert([company('v5')], { sequences: [5n] })).applied).toBe(0);
      expect((await repo.get({ symbol: 'SEQ' }))?.name).toBe('v10');
      await repo.upsert([company('v11')], { sequences: [11n] });
      expect((await repo.get({ symbol: 'SEQ' }))?.name).toBe('v11');
      expect((await repo.delete([{ symbol: 'SEQ' }], { sequences: [7n] })).applied).toBe(0);
      expect(await repo.get({ symbol: 'SEQ' })).toBeDefined();
      expect((await repo.delete([{ symbol: 'SEQ' }], { sequences: [12n] })).applied).toBe(1);
      expect(await repo.get({ symbol: 'SEQ' })).toBeUndefined();
    });

    it('writes a batch mixing new keys, existing keys and repeated keys', async () => {
      const repo = ctx.tf.repositories.marketData;
      await repo.upsert(bars(14, 5000));
      const mixed = [...bars(28, 5000, 300), ...bars(7, 5000, 400)];
      const result = await repo.upsert(mixed);
      expect(result.applied).toBe(28);
      const rows = await repo.range({ from: '2024-03-07T00:00:00Z', where: { symbol: 'S0' } });
      expect(rows.map((r) => r.close)).toEqual(['400.000000', '300.000000', '300.000000', '300.000000']);
    });

    it('keeps the highest sequence when a batch holds the same key twice', async () => {
      const repo = ctx.tf.repositories.companies;
      const row = (name: string) => ({
        symbol: 'TWICE',
        name,
        exchange: 'X',
        currency: 'USD',
        active: true,
        updated_at: '2024-03-04T00:00:00Z',
      });
      await repo.upsert([row('newer'), row('older')], { sequences: [9n, 3n] });
      expect((await repo.get({ symbol: 'TWICE' }))?.name).toBe('newer');
    });

    it('reads by event-time range and latest N, with equality filters', async () => {
      const repo = ctx.tf.repositories.sentiment;
      const rows = Array.from({ length: 30 }, (_, i) => ({
        symbol: i % 2 ? 'ODD' : 'EVEN',
        source: 'news',
        as_of: new Date(Date.UTC(2024, 0, 1) + i * 3_600_000),
        score: 0.5,
        article_count: i,
        model: 'm',
      }));
      await repo.upsert(rows);
      const range = await repo.range({ from: '2024-01-01T02:00:00Z', to: '2024-01-01T06:00:00Z' });
      expect(range.map((r) => r.article_count)).toEqual([2, 3, 4, 5]);
      const even = await repo.range({
        from: '2024-01-01T00:00:00Z',
        to: '2024-01-02T00:00:00Z',
        where: { symbol: 'EVEN' },
        limit: 3,
      });
      expect(even.map((r) => r.article_count)).toEqual([0, 2, 4]);
      const latest = await repo.latest(3, { symbol: 'ODD' });
      expect(latest.map((r) => r.article_count)).toEqual([29, 27, 25]);
      await expect(repo.range({ where: { nope: 1 } as never })).rejects.toBeInstanceOf(ValidationError);
    });

    it('names the missing key field on lookups', async () => {
      await expect(ctx.tf.repositories.marketData.get({ symbol: 'X', interval: '1m' })).rejects.toThrow(
        /field "bucket_start": primary key column is missing/,
      );
    });
  },
);

describe('hot tier outages', () => {
  it('reports an unreachable PostgreSQL as a retriable connection error', async () => {
    const { createPool } = await import('../../src/hot/pool.ts');
    const { HotStore } = await import('../../src/hot/hot-store.ts');
    const { HotOnlyWriter } = await import('../../src/hot/hot-only-writer.ts');
    const { marketData } = await import('../../src/datasets/index.ts');
    const pool = createPool('postgres://nobody@127.0.0.1:1/none', { connectionTimeoutMillis: 2_000 });
    const writer = new HotOnlyWriter(new HotStore(pool, { schema: 'x' }));
    const error = await writer.upsert(marketData, bars(3)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'HOT_CONNECTION', retriable: true });
    await pool.end();
  });
});
