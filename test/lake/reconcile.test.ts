import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerReconcile } from '../../src/cli/commands/reconcile.ts';
import type { AnyColumn, Change, Dataset, InputOfDataset } from '../../src/core/index.ts';
import { defineDataset, microsToTimestamp, t, validatorFor } from '../../src/core/index.ts';
import { companies, financials, marketData, sentiment, trades } from '../../src/datasets/index.ts';
import { pgType } from '../../src/hot/ddl.ts';
import { canonicalJson } from '../../src/lake/canonical-json.ts';
import type { DuckDBLake } from '../../src/lake/duckdb-lake.ts';
import { openLakeQuery } from '../../src/lake/duckdb-lake.ts';
import type { CanonicalDialect } from '../../src/lake/reconcile-canonical.ts';
import { canonicalField, duckdbCanonical, postgresCanonical } from '../../src/lake/reconcile-canonical.ts';
import { LakeWriter } from '../../src/lake/lake-writer.ts';
import type { ReconcileReport } from '../../src/lake/reconcile.ts';
import { ReconcileError, reconcile } from '../../src/lake/reconcile.ts';
import { useTierflow } from '../support/hot.ts';
import type { LakeRecord } from './fixtures.ts';
import { writeLakeFile } from './fixtures.ts';

type AnyDataset = Dataset<unknown, unknown>;

const ctx = useTierflow();
let base: string;
const opened: DuckDBLake[] = [];
let roots = 0;

beforeAll(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'tierflow-reconcile-'));
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((l) => l.close()));
});
afterAll(() => rm(base, { recursive: true, force: true }));

/** A fresh lake holding `records`, one file per dataset and UTC day, as the writer lays them out. */
async function lakeWith(
  datasets: readonly AnyDataset[],
  files: readonly (readonly [AnyDataset, readonly LakeRecord[]])[],
): Promise<{ lake: DuckDBLake; root: string }> {
  const root = path.join(base, `lake-${++roots}`);
  for (const [dataset, records] of files) {
    const byDay = new Map<string, LakeRecord[]>();
    for (const r of records) {
      const day = String(r.values[dataset.eventTime]).slice(0, 10);
      byDay.set(day, [...(byDay.get(day) ?? []), r]);
    }
    for (const group of byDay.values()) await writeLakeFile(root, dataset, group);
  }
  const lake = await openLakeQuery(root, datasets);
  opened.push(lake);
  return { lake, root };
}

function run(
  lake: DuckDBLake,
  datasets: readonly AnyDataset[],
  extra: { from?: string; to?: string; maxKeys?: number } = {},
) {
  return reconcile({ pool: ctx.tf.hot.pool, schema: ctx.schema, lake, datasets, ...extra });
}

function summary(report: ReconcileReport) {
  return report.days.map((d) => ({
    dataset: d.dataset,
    day: d.day,
    hot: d.hotRows,
    lake: d.lakeRows,
    status: d.status,
    differences: d.differences,
  }));
}

// ---------------------------------------------------------------------------------------------
// Canonical text: every column kind through real PostgreSQL and real DuckDB (via Parquet).
// ---------------------------------------------------------------------------------------------

interface KindCase {
  readonly name: string;
  readonly column: AnyColumn;
  readonly values: fc.Arbitrary<unknown>;
  readonly fixed: readonly unknown[];
  /** Text PostgreSQL parses into the value. */
  readonly pgText: (v: unknown) => string;
}

const MIN_MICROS = -62_135_596_800_000_000n;
const MAX_MICROS = 253_402_300_799_999_999n;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const validText = (s: string) => !s.includes('\0') && !LONE_SURROGATE.test(s);

function decimalArb(precision: number, scale: number): fc.Arbitrary<string> {
  const limit = 10n ** BigInt(precision) - 1n;
  return fc.bigInt({ min: -limit, max: limit }).map((unscaled) => decimalText(unscaled, scale));
}

function decimalText(unscaled: bigint, scale: number): string {
  const digits = (unscaled < 0n ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
  const sign = unscaled < 0n ? '-' : '';
  return scale === 0 ? `${sign}${digits}` : `${sign}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

const dayText = (day: number) => new Date(day * 86_400_000).toISOString().slice(0, 10);

const KINDS: readonly KindCase[] = [
  {
    name: 'text',
    column: t.text(),
    values: fc.string({ unit: 'binary', maxLength: 40 }).filter(validText),
    fixed: [
      '',
      'a|b',
      '3:abc',
      '~',
      'NULL',
      "O'Reilly",
      '\\',
      '\n\t\r',
      'é',
      'e\u0301',
      '👍🏽',
      '中文',
      '\u007f',
    ],
    pgText: String,
  },
  {
    name: 'int32',
    column: t.int32(),
    values: fc.integer(),
    fixed: [-2147483648, 2147483647, 0, -1],
    pgText: String,
  },
  {
    name: 'int64',
    column: t.int64(),
    values: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    fixed: [-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n, 9007199254740993n],
    pgText: String,
  },
  {
    name: 'float64',
    column: t.float64(),
    values: fc.double(),
    fixed: [
      0.1 + 0.2,
      0.3,
      1e21,
      1e-7,
      0,
      -0,
      5e-324,
      -5e-324,
      2.2250738585072014e-308,
      Number.MAX_VALUE,
      -Number.MAX_VALUE,
      2 ** 53 + 2,
      1 / 3,
      100,
      Infinity,
      -Infinity,
      NaN,
    ],
    pgText: (v) => (Object.is(v, -0) ? '-0' : String(v)),
  },
  {
    name: 'decimal_18_6',
    column: t.decimal(18, 6),
    values: decimalArb(18, 6),
    fixed: ['-0.500000', '0.000000', '-0.000001', '999999999999.999999'],
    pgText: String,
  },
  {
    name: 'decimal_38_10',
    column: t.decimal(38, 10),
    values: decimalArb(38, 10),
    fixed: ['-9999999999999999999999999999.9999999999', '0.0000000001'],
    pgText: String,
  },
  {
    name: 'decimal_10_0',
    column: t.decimal(10, 0),
    values: decimalArb(10, 0),
    fixed: ['-9999999999', '0', '7'],
    pgText: String,
  },
  { name: 'bool', column: t.bool(), values: fc.boolean(), fixed: [true, false], pgText: String },
  {
    name: 'timestamp',
    column: t.timestamp(),
    values: fc.bigInt({ min: MIN_MICROS, max: MAX_MICROS }).map(microsToTimestamp),
    fixed: [
      '1970-01-01T00:00:00.000000Z',
      '1969-12-31T23:59:59.999999Z',
      '0001-01-01T00:00:00.000000Z',
      '9999-12-31T23:59:59.999999Z',
      '2024-03-04T14:30:00.123456Z',
      '2024-02-29T00:00:00.000001Z',
    ],
    pgText: String,
  },
  {
    name: 'date',
    column: t.date(),
    values: fc.integer({ min: -719_162, max: 2_932_896 }).map(dayText),
    fixed: ['1970-01-01', '1969-12-31', '0001-01-01', '9999-12-31', '2024-02-29'],
    pgText: String,
  },
  {
    name: 'json',
    column: t.json(),
    values: fc
      .jsonValue({ stringUnit: 'binary', maxDepth: 3 })
      .map((v) => JSON.stringify(v))
      .filter((s) => validText(s) && !s.includes('\\u0000')),
    fixed: ['{"bb":[1,2.5,"é"],"a":1}', '[1e21,1e-7,-0,0.1]', '"\\u001f\\"\\\\/"', 'null', '{}', '[]'],
    pgText: String,
  },
];

/** Canonical text and hash of each value, per engine, keyed by row id. */
async function canonicalOf(kind: KindCase, values: readonly unknown[], run: number) {
  const dataset = defineDataset({
    name: `canon_${kind.name}`,
    version: 1,
    description: 'canonical text test',
    columns: { id: t.int32(), at: t.timestamp(), v: kind.column.nullable() },
    primaryKey: ['id'],
    eventTime: 'at',
  }) as AnyDataset;
  const col = dataset.columns.find((c) => c.name === 'v')!;
  const table = `"${ctx.schema}"."${dataset.name}"`;
  const pool = ctx.tf.hot.pool;
  await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (id integer PRIMARY KEY, v ${pgType(col)})`);
  await pool.query(`TRUNCATE ${table}`);
  await pool.query(
    `INSERT INTO ${table} (id, v) SELECT i, CAST(x AS ${pgType(col)}) FROM unnest($1::integer[], $2::text[]) AS u(i, x)`,
    [values.map((_, i) => i), values.map((v) => (v === null ? null : kind.pgText(v)))],
  );
  // The lake stores json as the text jsonb prints; take it from PostgreSQL, byte for byte.
  let lakeValues = values;
  if (col.kind === 'json') {
    const back = await pool.query<{ v: string | null }>(`SELECT v::text AS v FROM ${table} ORDER BY id`);
    lakeValues = back.rows.map((r) => r.v);
  }
  const root = path.join(base, `canon-${kind.name}-${run}`);
  await writeLakeFile(
    root,
    dataset,
    lakeValues.map((v, i) => ({ position: i + 1, values: { id: i, at: '2024-03-04T00:00:00.000000Z', v } })),
  );
  const select = (d: CanonicalDialect) =>
    `SELECT id, ${d.columnText(col, 'v')} AS text, ${d.hash60(canonicalField(d, col, 'v'))} AS hash`;
  const hot = await pool.query<{ id: number; text: string | null; hash: bigint | string }>(
    `${select(postgresCanonical)} FROM ${table} ORDER BY id`,
  );
  const lake = await openLakeQuery(root, [dataset]);
  try {
    const cold = await lake.query(`${select(duckdbCanonical)} FROM "${dataset.name}" ORDER BY id`);
    await rm(root, { recursive: true, force: true });
    return {
      hot: hot.rows.map((r) => ({ id: r.id, text: r.text, hash: String(r.hash) })),
      lake: cold.map((r) => ({ id: Number(r.id), text: r.text, hash: String(r.hash) })),
    };
  } finally {
    await lake.close();
  }
}

describe('canonical text is identical in PostgreSQL and DuckDB', () => {
  it.each(KINDS.map((k) => [k.name, k] as const))('%s', async (_name, kind) => {
    const fixed = [...kind.fixed, null];
    const first = await canonicalOf(kind, fixed, 0);
    expect(first.lake).toEqual(first.hot);
    expect(first.hot.filter((r) => r.text === null)).toHaveLength(1);

    let runs = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.option(kind.values, { nil: null }), { minLength: 1, maxLength: 60 }),
        async (values) => {
          const { hot, lake } = await canonicalOf(kind, values, ++runs);
          expect(lake).toEqual(hot);
        },
      ),
      { numRuns: 12 },
    );
  });

  it('spells out the forms the two engines agree on', async () => {
    const kind = (name: string) => KINDS.find((k) => k.name === name)!;
    const texts = async (name: string, values: unknown[]) =>
      (await canonicalOf(kind(name), values, 1000)).hot.map((r) => r.text);
    expect(await texts('float64', [0.1 + 0.2, -0, 0, 5e-324])).toEqual([
      '4599075939470750516',
      '0',
      '0',
      '1',
    ]);
    expect(await texts('timestamp', ['1969-12-31T23:59:59.999999Z', '2024-03-04T14:30:00.123456Z'])).toEqual([
      '-1',
      '1709562600123456',
    ]);
    expect(await texts('date', ['1969-12-31', '2024-03-04'])).toEqual(['-1', '19786']);
    expect(await texts('decimal_18_6', ['-0.500000', '0.000000'])).toEqual(['-0.500000', '0.000000']);
    expect(await texts('bool', [true, false])).toEqual(['t', 'f']);
    expect(await texts('json', ['{"bb":[1,2.5,"é"],"a":1,"n":1e21}'])).toEqual([
      '{"a": 1, "n": 1000000000000000000000, "bb": [1, 2.5, "é"]}',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Reconciliation of real datasets, written through the repositories and the fixture writer.
// ---------------------------------------------------------------------------------------------

const D1 = '2024-03-04';
const D2 = '2024-03-05';

const bars = [
  {
    symbol: 'AAPL',
    interval: '1m',
    bucket_start: `${D1}T14:30:00.000000Z`,
    open: '189.100000',
    high: '189.500000',
    low: '188.900000',
    close: '189.200000',
    volume: 9223372036854775807n,
    vwap: null,
    trade_count: 2147483647,
    source: 'feed',
  },
  {
    symbol: 'MSFT',
    interval: '1m',
    bucket_start: `${D1}T23:59:59.999999Z`,
    open: '400.000000',
    high: '401.000000',
    low: '399.000000',
    close: '400.500000',
    volume: 0n,
    vwap: '400.123456',
    trade_count: null,
    source: 'feed ✓',
  },
  {
    symbol: 'AAPL',
    interval: '1m',
    bucket_start: `${D2}T00:00:00.000000Z`,
    open: '190.000000',
    high: '190.000000',
    low: '190.000000',
    close: '190.000000',
    volume: null,
    vwap: null,
    trade_count: 0,
    source: 'feed',
  },
];

/** Trades with their conditions as written (hot) and as jsonb prints them (what the lake stores). */
const tradeRows: [InputOfDataset<typeof trades>, string | null][] = [
  [
    {
      symbol: 'AAPL',
      exchange: 'XNAS',
      trade_id: 't1',
      event_time: `${D1}T14:30:00.000001Z`,
      price: '189.200000',
      size: '100.00000000',
      conditions: ['@', 'T'],
    },
    '["@", "T"]',
  ],
  [
    {
      symbol: 'AAPL',
      exchange: 'XNAS',
      trade_id: 't2',
      event_time: `${D1}T14:30:00.000002Z`,
      price: '189.210000',
      size: '0.50000000',
      conditions: { bb: [1.5, 'é'], a: 1, n: 1e21 },
    },
    '{"a": 1, "n": 1000000000000000000000, "bb": [1.5, "é"]}',
  ],
  [
    {
      symbol: 'MSFT',
      exchange: 'ARCX',
      trade_id: 't3',
      event_time: `${D2}T09:30:00.000000Z`,
      price: '400.000000',
      size: '1.00000000',
      conditions: null,
    },
    null,
  ],
];

const sentiments = [
  {
    symbol: 'AAPL',
    source: 'news',
    as_of: `${D1}T10:00:00.000000Z`,
    score: 0.1 + 0.2,
    magnitude: 1e21,
    article_count: 3,
    model: 'm1',
  },
  {
    symbol: 'AAPL',
    source: 'blogs',
    as_of: `${D1}T10:00:00.000000Z`,
    score: -0,
    magnitude: 5e-324,
    article_count: 0,
    model: 'm1',
  },
  {
    symbol: 'MSFT',
    source: 'news',
    as_of: `${D2}T10:00:00.000000Z`,
    score: -1,
    magnitude: null,
    article_count: 2147483647,
    model: 'm2',
  },
];

const companyRows = [
  {
    symbol: 'SOGN',
    name: 'Société Générale ✓ 🍎',
    exchange: 'XPAR',
    sector: 'Banks',
    industry: null,
    country: 'FR',
    currency: 'EUR',
    market_cap: '3000000000000.00',
    employees: 117000,
    ipo_date: '1987-07-08',
    active: true,
    updated_at: '1969-12-31T23:59:59.999999Z',
  },
  {
    symbol: 'OLD',
    name: 'Old Co',
    exchange: 'XNYS',
    currency: 'USD',
    market_cap: null,
    employees: null,
    ipo_date: '0001-01-01',
    active: false,
    updated_at: `${D1}T00:00:00.000000Z`,
  },
  {
    symbol: 'NEW',
    name: 'New Co',
    exchange: 'XNYS',
    currency: 'USD',
    market_cap: '0.01',
    employees: 0,
    ipo_date: null,
    active: true,
    updated_at: `${D1}T12:00:00.500000Z`,
  },
];

const financialRows = [
  {
    symbol: 'X',
    fiscal_year: 2023,
    fiscal_period: 'FY',
    currency: 'USD',
    revenue: '100.00',
    net_income: '-1234567.89',
    eps_diluted: '-0.0100',
    shares_outstanding: 9223372036854775807n,
    reported_at: `${D1}T21:00:00.000000Z`,
  },
  {
    symbol: 'X',
    fiscal_year: 2024,
    fiscal_period: 'Q1',
    currency: 'USD',
    net_income: '-0.01',
    eps_diluted: '0.0000',
    shares_outstanding: 0n,
    reported_at: `${D2}T21:00:00.000000Z`,
  },
];

/** What the lake holds for each dataset: the same rows, json as jsonb text, with positions. */
function lakeRecords(rows: readonly Record<string, unknown>[], first = 100): LakeRecord[] {
  return rows.map((values, i) => ({ position: first + i, values }));
}

interface Scenario {
  readonly dataset: AnyDataset;
  readonly records: () => LakeRecord[];
  /** The first row with one value changed, and a description of the key it names. */
  readonly changed: (values: Record<string, unknown>) => Record<string, unknown>;
  readonly extra: Record<string, unknown>;
  readonly keyOf: (values: Readonly<Record<string, unknown>>) => Record<string, string>;
}

const keyOf =
  (dataset: AnyDataset) =>
  (values: Readonly<Record<string, unknown>>): Record<string, string> =>
    Object.fromEntries(dataset.primaryKey.map((k) => [k, String(values[k])]));

const SCENARIOS: readonly Scenario[] = [
  {
    dataset: marketData,
    records: () => lakeRecords(bars),
    changed: (v) => ({ ...v, close: '189.210000' }),
    extra: { ...bars[0]!, symbol: 'NVDA' },
    keyOf: keyOf(marketData),
  },
  {
    dataset: trades,
    records: () => lakeRecords(tradeRows.map(([row, text]) => ({ ...row, conditions: text }))),
    // Same JSON value, but not in jsonb's key order: a writer that skips canonicalJson is caught.
    changed: (v) => ({ ...v, conditions: '["@","T"]' }),
    extra: { ...tradeRows[0]![0], trade_id: 't9', conditions: '[]' },
    keyOf: keyOf(trades),
  },
  {
    dataset: sentiment,
    records: () => lakeRecords(sentiments),
    // 0.3 is not 0.1 + 0.2: one unit in the last place is a difference.
    changed: (v) => ({ ...v, score: 0.3 }),
    extra: { ...sentiments[0]!, source: 'radio' },
    keyOf: keyOf(sentiment),
  },
  {
    dataset: companies,
    records: () => lakeRecords(companyRows),
    changed: (v) => ({ ...v, ipo_date: '1987-07-09' }),
    extra: { ...companyRows[0]!, symbol: 'GHOST' },
    keyOf: keyOf(companies),
  },
  {
    dataset: financials,
    records: () => lakeRecords(financialRows),
    changed: (v) => ({ ...v, net_income: '1234567.89' }),
    extra: { ...financialRows[0]!, fiscal_year: 2022 },
    keyOf: keyOf(financials),
  },
];

const ALL = SCENARIOS.map((s) => s.dataset);

// The hot tier's side of every reconciliation below, written through the repositories.
beforeAll(async () => {
  const r = ctx.tf.repositories;
  await r.marketData.upsert(bars);
  await r.trades.upsert(tradeRows.map(([row]) => row));
  await r.sentiment.upsert(sentiments);
  await r.companies.upsert(companyRows);
  await r.financials.upsert(financialRows);
  // A key written and deleted in the hot tier: the lake has its create and its delete.
  await r.marketData.upsert([{ ...bars[0]!, symbol: 'GONE' }]);
  await r.marketData.delete([{ symbol: 'GONE', interval: '1m', bucket_start: bars[0]!.bucket_start }]);
});

describe('reconcile', () => {
  const cleanFiles = (): [AnyDataset, LakeRecord[]][] =>
    SCENARIOS.map((s) => {
      const records = s.records();
      if (s.dataset === marketData) {
        // History the latest view must see through: an older version, a deleted key.
        records.push({
          position: 1,
          values: { ...bars[0]!, close: '1.000000', low: '1.000000', open: '1.000000' },
        });
        records.push({ position: 2, values: { ...bars[0]!, symbol: 'GONE' } });
        records.push({
          op: 'd',
          position: 3,
          values: { symbol: 'GONE', interval: '1m', bucket_start: bars[0]!.bucket_start },
        });
      }
      return [s.dataset, records];
    });

  it('reports a lake that agrees with the hot tier as clean', async () => {
    const { lake } = await lakeWith(ALL, cleanFiles());
    const report = await run(lake, ALL);
    expect(summary(report)).toEqual([
      { dataset: 'market_data', day: D1, hot: 2, lake: 2, status: 'match', differences: [] },
      { dataset: 'market_data', day: D2, hot: 1, lake: 1, status: 'match', differences: [] },
      { dataset: 'trades', day: D1, hot: 2, lake: 2, status: 'match', differences: [] },
      { dataset: 'trades', day: D2, hot: 1, lake: 1, status: 'match', differences: [] },
      { dataset: 'sentiment', day: D1, hot: 2, lake: 2, status: 'match', differences: [] },
      { dataset: 'sentiment', day: D2, hot: 1, lake: 1, status: 'match', differences: [] },
      { dataset: 'companies', day: '1969-12-31', hot: 1, lake: 1, status: 'match', differences: [] },
      { dataset: 'companies', day: D1, hot: 2, lake: 2, status: 'match', differences: [] },
      { dataset: 'financials', day: D1, hot: 1, lake: 1, status: 'match', differences: [] },
      { dataset: 'financials', day: D2, hot: 1, lake: 1, status: 'match', differences: [] },
    ]);
    expect(report.clean).toBe(true);
    for (const day of report.days) expect(day.lakeChecksum).toBe(day.hotChecksum);
  });

  describe.each(SCENARIOS.map((s) => [s.dataset.name, s] as const))('%s', (_name, s) => {
    const others = () => cleanFiles().filter(([d]) => d !== s.dataset);
    const first = () => s.records()[0]!.values;
    const day = () => String(first()[s.dataset.eventTime]).slice(0, 10);

    async function mismatchOf(records: LakeRecord[]) {
      const { lake } = await lakeWith(ALL, [...others(), [s.dataset, records]]);
      const report = await run(lake, ALL);
      expect(report.clean).toBe(false);
      const bad = report.days.filter((d) => d.status === 'mismatch');
      expect(bad.map((d) => `${d.dataset} ${d.day}`)).toEqual([`${s.dataset.name} ${day()}`]);
      return bad[0]!;
    }

    it('catches a row the lake is missing', async () => {
      const bad = await mismatchOf(s.records().slice(1));
      expect(bad.lakeRows).toBe(bad.hotRows - 1);
      expect(bad.differences).toEqual([{ kind: 'missing-in-lake', key: s.keyOf(first()) }]);
    });

    it('catches a row the hot tier does not have', async () => {
      const bad = await mismatchOf([...s.records(), { position: 999, values: s.extra }]);
      expect(bad.lakeRows).toBe(bad.hotRows + 1);
      expect(bad.differences).toEqual([{ kind: 'missing-in-hot', key: s.keyOf(s.extra) }]);
    });

    it('catches a changed value', async () => {
      const records = s.records();
      records.push({ position: 999, values: s.changed(records[0]!.values) });
      const bad = await mismatchOf(records);
      expect(bad.lakeRows).toBe(bad.hotRows);
      expect(bad.lakeChecksum).not.toBe(bad.hotChecksum);
      expect(bad.differences).toEqual([{ kind: 'values-differ', key: s.keyOf(first()) }]);
    });

    it('catches a key deleted in the lake but live in the hot tier', async () => {
      const records = s.records();
      const key = Object.fromEntries(
        [...s.dataset.primaryKey, s.dataset.eventTime].map((k) => [k, records[0]!.values[k]]),
      );
      records.push({ op: 'd', position: 999, values: key });
      const bad = await mismatchOf(records);
      expect(bad.differences).toEqual([{ kind: 'missing-in-lake', key: s.keyOf(first()) }]);
    });
  });

  it('limits the range and the keys it names', async () => {
    const { lake } = await lakeWith([marketData], [[marketData, []]]);
    const all = await run(lake, [marketData], { maxKeys: 1 });
    expect(summary(all).map((d) => [d.day, d.hot, d.lake, d.status, d.differences.length])).toEqual([
      [D1, 2, 0, 'mismatch', 1],
      [D2, 1, 0, 'mismatch', 1],
    ]);
    const second = await run(lake, [marketData], { from: D2, to: '2024-03-06' });
    expect(summary(second)).toEqual([
      {
        dataset: 'market_data',
        day: D2,
        hot: 1,
        lake: 0,
        status: 'mismatch',
        differences: [{ kind: 'missing-in-lake', key: keyOf(marketData)(bars[2]!) }],
      },
    ]);
    // Part of a day: [14:00, 15:00) holds one bar of D1.
    const hour = await run(lake, [marketData], { from: `${D1}T14:00:00Z`, to: `${D1}T15:00:00Z` });
    expect(summary(hour).map((d) => [d.day, d.hot, d.differences.length])).toEqual([[D1, 1, 1]]);
    expect((await run(lake, [marketData], { from: '2030-01-01' })).days).toEqual([]);
    await expect(run(lake, [marketData], { from: 'yesterday' })).rejects.toBeInstanceOf(ReconcileError);
  });

  it('names every differing key up to the limit, in key-hash order', async () => {
    const many = Array.from({ length: 3000 }, (_, i) => ({
      ...bars[2]!,
      symbol: `S${String(i).padStart(4, '0')}`,
      bucket_start: `2024-03-07T00:00:00.${String(i).padStart(6, '0')}Z`,
    }));
    await ctx.tf.repositories.marketData.upsert(many);
    try {
      const lakeRows = many
        .filter((_, i) => i % 1000 !== 7)
        .map((v, i) => ({ position: 10_000 + i, values: v }));
      lakeRows[5] = { ...lakeRows[5]!, values: { ...lakeRows[5]!.values, source: 'other' } };
      const { lake } = await lakeWith([marketData], [[marketData, lakeRows]]);
      const report = await run(lake, [marketData], { from: '2024-03-07', to: '2024-03-08', maxKeys: 10 });
      const [day] = report.days;
      expect(day).toMatchObject({ day: '2024-03-07', hotRows: 3000, lakeRows: 2997, status: 'mismatch' });
      expect(day!.differences.map((d) => `${d.kind} ${d.key.symbol}`).sort()).toEqual([
        'missing-in-lake S0007',
        'missing-in-lake S1007',
        'missing-in-lake S2007',
        'values-differ S0005',
      ]);
      const limited = await run(lake, [marketData], { from: '2024-03-07', to: '2024-03-08', maxKeys: 2 });
      expect(limited.days[0]!.differences).toHaveLength(2);
    } finally {
      await ctx.tf.repositories.marketData.delete(
        many.map((v) => ({ symbol: v.symbol, interval: v.interval, bucket_start: v.bucket_start })),
      );
    }
  });
});

describe('the lake writer and reconciliation agree', () => {
  it("reconciles what LakeWriter wrote from the hot tier's rows as clean", async () => {
    const root = path.join(base, 'writer');
    const sources: [AnyDataset, readonly unknown[]][] = [
      [marketData, bars],
      [sentiment, sentiments],
      [companies, companyRows],
      [financials, financialRows],
    ];
    const writer = await LakeWriter.open(root);
    try {
      let position = 1n;
      for (const [dataset, inputs] of sources) {
        const rows = validatorFor(dataset)(inputs) as Record<string, unknown>[];
        const changes: Change[] = rows.map((row) => ({
          dataset: dataset.name,
          op: 'u',
          key: Object.fromEntries(dataset.primaryKey.map((k) => [k, row[k]])),
          after: row,
          eventTime: String(row[dataset.eventTime]),
          position: position++,
          source: 'test',
          schemaVersion: dataset.version,
        }));
        await writer.write(dataset, changes);
      }
    } finally {
      await writer.close();
    }
    const datasets = sources.map(([d]) => d);
    const lake = await openLakeQuery(root, datasets);
    opened.push(lake);
    const report = await run(lake, datasets);
    expect(report.days.filter((d) => d.status !== 'match')).toEqual([]);
    expect(report.days).toHaveLength(8);
  });

  it('canonicalJson prints every JSON value exactly as jsonb::text does', async () => {
    const values = fc.jsonValue({ stringUnit: 'binary', maxDepth: 3 }).filter((v) => {
      const text = JSON.stringify(v);
      return validText(text) && !text.includes('\\u0000');
    });
    await fc.assert(
      fc.asyncProperty(fc.array(values, { minLength: 1, maxLength: 100 }), async (batch) => {
        const texts = batch.map((v) => JSON.stringify(v));
        const result = await ctx.tf.hot.pool.query<{ text: string }>(
          'SELECT (x::jsonb)::text AS text FROM unnest($1::text[]) WITH ORDINALITY AS u(x, n) ORDER BY n',
          [texts],
        );
        expect(batch.map((v) => canonicalJson(v))).toEqual(result.rows.map((r) => r.text));
      }),
      { numRuns: 30, examples: [[[1e21, 1e-7, 1.5e300, 5e-324, -0, 0.1, 100, 123456789012345680000]]] },
    );
  });
});

describe('tierflow reconcile', () => {
  async function cli(root: string, ...args: string[]): Promise<{ out: string; exitCode: unknown }> {
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => {
      out.push(parts.map(String).join(' '));
    });
    const before = process.exitCode;
    try {
      const program = new Command('tierflow')
        .option('--database-url <url>')
        .option('--data-dir <dir>')
        .option('--schema <name>')
        .exitOverride();
      registerReconcile(program);
      await program.parseAsync(
        ['--database-url', ctx.url, '--schema', ctx.schema, 'reconcile', '--lake', root, ...args],
        { from: 'user' },
      );
      return { out: out.join('\n'), exitCode: process.exitCode };
    } finally {
      log.mockRestore();
      process.exitCode = before;
    }
  }

  it('prints the days and exits 0 when clean, 1 with the differing keys when not', async () => {
    const { root } = await lakeWith([marketData], [[marketData, lakeRecords(bars)]]);
    const clean = await cli(root, '--dataset', 'market_data');
    expect(clean.out).toMatch(/^dataset\s+day\s+hot rows\s+lake rows\s+status/);
    expect(clean.out).toMatch(/market_data\s+2024-03-04\s+2\s+2\s+match/);
    expect(clean.out).toContain('hot and lake agree on all 2 days');
    expect(clean.exitCode ?? 0).toBe(0);

    const broken = await lakeWith([marketData], [[marketData, lakeRecords(bars.slice(1))]]);
    const dirty = await cli(broken.root, '--dataset', 'market_data', '--from', D1, '--to', D2);
    expect(dirty.out).toMatch(/market_data\s+2024-03-04\s+2\s+1\s+mismatch/);
    expect(dirty.out).not.toContain(D2);
    expect(dirty.out).toContain(
      'market_data 2024-03-04 missing-in-lake {"symbol":"AAPL","interval":"1m","bucket_start":"2024-03-04T14:30:00.000000Z"}',
    );
    expect(dirty.exitCode).toBe(1);
  });
});
