import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerLake } from '../../src/cli/commands/lake.ts';
import type { Dataset } from '../../src/core/index.ts';
import { defineDataset, t } from '../../src/core/index.ts';
import { companies, financials, marketData, trades } from '../../src/datasets/index.ts';
import type { DuckDBLake } from '../../src/lake/duckdb-lake.ts';
import { openLakeQuery } from '../../src/lake/duckdb-lake.ts';
import { LakeClosedError, LakeQueryError } from '../../src/lake/duckdb-errors.ts';
import { ManifestError } from '../../src/lake/manifest.ts';
import type { LakeRecord } from './fixtures.ts';
import { writeLakeFile } from './fixtures.ts';

let base: string;
const opened: DuckDBLake[] = [];

beforeAll(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'tierflow-lake-reader-'));
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((l) => l.close()));
});
afterAll(() => rm(base, { recursive: true, force: true }));

let roots = 0;
const newRoot = () => path.join(base, `lake-${++roots}`);

const builtin: readonly Dataset<unknown, unknown>[] = [marketData, trades, companies, financials];

async function open(root: string, datasets = builtin): Promise<DuckDBLake> {
  const lake = await openLakeQuery(root, datasets);
  opened.push(lake);
  return lake;
}

function bar(symbol: string, bucket: string, close: string, position: number): LakeRecord {
  return {
    position,
    values: {
      symbol,
      interval: '1m',
      bucket_start: bucket,
      open: close,
      high: close,
      low: close,
      close,
      volume: 100n,
      vwap: null,
      trade_count: 3,
      source: 'test',
    },
  };
}

function barDelete(symbol: string, bucket: string, position: number): LakeRecord {
  return { op: 'd', position, values: { symbol, interval: '1m', bucket_start: bucket } };
}

const T1 = '2024-03-04T14:30:00.000000Z';
const T2 = '2024-03-04T14:31:00.000000Z';

describe('lake views', () => {
  it('shows the highest position of each key, whatever order the files came in', async () => {
    const root = newRoot();
    await writeLakeFile(root, marketData, [bar('AAPL', T1, '2.000000', 10), bar('MSFT', T1, '5.000000', 11)]);
    await writeLakeFile(root, marketData, [bar('AAPL', T1, '1.000000', 3), bar('MSFT', T1, '6.000000', 12)]);
    const lake = await open(root);
    const latest = await lake.query('SELECT symbol, close, _position FROM market_data ORDER BY symbol');
    expect(latest).toEqual([
      { symbol: 'AAPL', close: '2.000000', _position: 10n },
      { symbol: 'MSFT', close: '6.000000', _position: 12n },
    ]);
    const history = await lake.query('SELECT _position FROM market_data_history ORDER BY _position');
    expect(history.map((r) => r._position)).toEqual([3n, 10n, 11n, 12n]);
  });

  it('hides a key whose latest version is a delete, and shows it again after a re-insert', async () => {
    const root = newRoot();
    await writeLakeFile(root, marketData, [
      bar('AAPL', T1, '1.000000', 1),
      barDelete('AAPL', T1, 2),
      bar('MSFT', T1, '1.000000', 3),
      barDelete('MSFT', T1, 4),
      bar('MSFT', T1, '7.000000', 5),
    ]);
    const lake = await open(root);
    expect(await lake.query('SELECT symbol, close, _op FROM market_data')).toEqual([
      { symbol: 'MSFT', close: '7.000000', _op: 'c' },
    ]);
    const history = await lake.query('SELECT symbol, _op, close FROM market_data_history ORDER BY _position');
    expect(history.map((r) => `${String(r.symbol)}:${String(r._op)}:${String(r.close)}`)).toEqual([
      'AAPL:c:1.000000',
      'AAPL:d:null',
      'MSFT:c:1.000000',
      'MSFT:d:null',
      'MSFT:c:7.000000',
    ]);
  });

  it('reads only committed files, and sees new commits after refresh()', async () => {
    const root = newRoot();
    await writeLakeFile(root, marketData, [bar('AAPL', T1, '1.000000', 1)]);
    await writeLakeFile(root, marketData, [bar('AAPL', T1, '9.000000', 2)], { commit: false });
    const lake = await open(root);
    expect(await lake.query('SELECT close FROM market_data')).toEqual([{ close: '1.000000' }]);
    expect(await lake.query('SELECT count(*) AS n FROM market_data_history')).toEqual([{ n: 1n }]);

    await writeLakeFile(root, marketData, [bar('MSFT', T2, '3.000000', 3)]);
    expect(await lake.query('SELECT count(*) AS n FROM market_data')).toEqual([{ n: 1n }]);
    await lake.refresh();
    expect(await lake.query('SELECT symbol, close FROM market_data ORDER BY symbol')).toEqual([
      { symbol: 'AAPL', close: '1.000000' },
      { symbol: 'MSFT', close: '3.000000' },
    ]);
    expect(lake.manifest('market_data')?.files).toHaveLength(2);
  });

  it('reads files of an older schema version, which lack a later nullable column', async () => {
    const v1 = defineDataset({
      name: 'evolving',
      version: 1,
      description: 'test',
      columns: { id: t.text(), at: t.timestamp(), a: t.int32() },
      primaryKey: ['id'],
      eventTime: 'at',
    });
    const v2 = defineDataset({
      name: 'evolving',
      version: 2,
      description: 'test',
      columns: { id: t.text(), at: t.timestamp(), a: t.int32(), b: t.float64().nullable() },
      primaryKey: ['id'],
      eventTime: 'at',
    });
    const root = newRoot();
    await writeLakeFile(root, v1, [{ position: 1, values: { id: 'x', at: T1, a: 1 } }]);

    const onlyOld = await open(root, [v2]);
    expect(await onlyOld.query('SELECT id, a, b, _schema_version FROM evolving')).toEqual([
      { id: 'x', a: 1, b: null, _schema_version: 1 },
    ]);

    await writeLakeFile(root, v2, [{ position: 2, values: { id: 'y', at: T2, a: 2, b: 0.5 } }]);
    await onlyOld.refresh();
    expect(await onlyOld.query('SELECT id, a, b, _schema_version FROM evolving ORDER BY id')).toEqual([
      { id: 'x', a: 1, b: null, _schema_version: 1 },
      { id: 'y', a: 2, b: 0.5, _schema_version: 2 },
    ]);
    // A reader still on v1 keeps the column it does not know about visible.
    const oldReader = await open(root, [v1]);
    expect((await oldReader.queryResult('SELECT * FROM evolving')).columns.slice(0, 4)).toEqual([
      'id',
      'at',
      'a',
      'b',
    ]);
  });

  it('gives a dataset without files typed, empty views', async () => {
    const lake = await open(newRoot());
    const result = await lake.queryResult('SELECT * FROM market_data');
    expect(result.rows).toEqual([]);
    expect(result.columns).toEqual([
      ...marketData.columns.map((c) => c.name),
      '_op',
      '_position',
      '_ingested_at',
      '_schema_version',
      'year',
      'month',
      'day',
    ]);
    const types = await lake.query(
      `SELECT column_name, column_type FROM (DESCRIBE market_data) WHERE column_name IN ('bucket_start', 'open', 'volume')`,
    );
    expect(types).toEqual([
      { column_name: 'bucket_start', column_type: 'TIMESTAMP WITH TIME ZONE' },
      { column_name: 'open', column_type: 'DECIMAL(18,6)' },
      { column_name: 'volume', column_type: 'BIGINT' },
    ]);
    expect(await lake.query('SELECT count(*) AS n FROM trades_history')).toEqual([{ n: 0n }]);
  });

  it("returns values in tierflow's normalised forms", async () => {
    const root = newRoot();
    await writeLakeFile(root, companies, [
      {
        position: 1,
        values: {
          symbol: 'ÄPFEL ✓',
          name: 'Äpfel 🍎 AG',
          exchange: 'XETRA',
          currency: 'EUR',
          market_cap: '1234567890123456789012.99',
          employees: 2147483647,
          ipo_date: '0001-01-01',
          active: false,
          updated_at: '1969-12-31T23:59:59.999999Z',
        },
      },
    ]);
    await writeLakeFile(root, financials, [
      {
        position: 2,
        values: {
          symbol: 'X',
          fiscal_year: 2024,
          fiscal_period: 'Q1',
          currency: 'USD',
          net_income: '-0.01',
          eps_diluted: '-12345678.9999',
          shares_outstanding: 9223372036854775807n,
          reported_at: '2024-03-04T00:00:00.000001Z',
        },
      },
    ]);
    await writeLakeFile(root, trades, [
      {
        position: 3,
        values: {
          symbol: 'A',
          exchange: 'X',
          trade_id: '1',
          event_time: T1,
          price: '0.000001',
          size: '1.00000000',
          conditions: '{"b": 1, "aa": ["@", "é"]}',
        },
      },
    ]);
    const lake = await open(root);
    expect(
      await lake.query(
        'SELECT symbol, name, market_cap, employees, ipo_date, active, updated_at, sector FROM companies',
      ),
    ).toEqual([
      {
        symbol: 'ÄPFEL ✓',
        name: 'Äpfel 🍎 AG',
        market_cap: '1234567890123456789012.99',
        employees: 2147483647,
        ipo_date: '0001-01-01',
        active: false,
        updated_at: '1969-12-31T23:59:59.999999Z',
        sector: null,
      },
    ]);
    expect(
      await lake.query(
        'SELECT net_income, eps_diluted, shares_outstanding, reported_at, year, month, day FROM financials',
      ),
    ).toEqual([
      {
        net_income: '-0.01',
        eps_diluted: '-12345678.9999',
        shares_outstanding: 9223372036854775807n,
        reported_at: '2024-03-04T00:00:00.000001Z',
        year: 2024,
        month: 3,
        day: 4,
      },
    ]);
    expect(await lake.query(`SELECT conditions, conditions->>'$.aa[1]' AS second FROM trades`)).toEqual([
      { conditions: '{"b": 1, "aa": ["@", "é"]}', second: 'é' },
    ]);
  });

  it('binds parameters and prunes by the hive partition columns', async () => {
    const root = newRoot();
    await writeLakeFile(root, marketData, [bar('AAPL', T1, '1.000000', 1)]);
    await writeLakeFile(root, marketData, [bar('AAPL', '2024-03-05T00:00:00.000000Z', '2.000000', 2)]);
    const lake = await open(root);
    const count = (day: number) =>
      lake.query('SELECT count(*) AS n FROM market_data_history WHERE year = ? AND month = ? AND day = ?', [
        2024,
        3,
        day,
      ]);
    expect(await count(4)).toEqual([{ n: 1n }]);
    expect(await count(6)).toEqual([{ n: 0n }]);
    expect(
      await lake.query('SELECT close FROM market_data WHERE bucket_start >= CAST($from AS TIMESTAMPTZ)', {
        from: '2024-03-05T00:00:00Z',
      }),
    ).toEqual([{ close: '2.000000' }]);
  });

  it('streams large results in bounded batches, and the columns of an empty one', async () => {
    const root = newRoot();
    const records = Array.from({ length: 5000 }, (_, i) => bar(`S${i}`, T1, `${i}.000000`, i + 1));
    await writeLakeFile(root, marketData, records);
    const lake = await open(root);
    const sizes: number[] = [];
    for await (const batch of lake.stream('SELECT symbol FROM market_data')) sizes.push(batch.rows.length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(5000);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(2048);

    const empty: string[][] = [];
    for await (const batch of lake.stream('SELECT symbol, close FROM market_data WHERE false')) {
      empty.push([...batch.columns, String(batch.rows.length)]);
    }
    expect(empty).toEqual([['symbol', 'close', '0']]);

    // Leaving a stream early releases its connection; the engine still closes cleanly.
    for await (const batch of lake.stream('SELECT * FROM market_data_history')) {
      expect(batch.rows.length).toBeGreaterThan(0);
      break;
    }
  });

  it('runs queries concurrently, each on its own connection', async () => {
    const root = newRoot();
    await writeLakeFile(root, marketData, [bar('AAPL', T1, '1.000000', 1)]);
    const lake = await open(root);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => lake.query('SELECT count(*) + ? AS n FROM market_data', [i])),
    );
    expect(results.map((r) => r[0]?.n)).toEqual(Array.from({ length: 8 }, (_, i) => BigInt(i + 1)));
  });
});

describe('lake errors', () => {
  it('raises LakeQueryError naming the SQL', async () => {
    const lake = await open(newRoot());
    const failure = lake.query('SELECT nope FROM market_data');
    await expect(failure).rejects.toBeInstanceOf(LakeQueryError);
    await expect(failure).rejects.toMatchObject({
      code: 'LAKE_QUERY',
      sql: 'SELECT nope FROM market_data',
      message: expect.stringMatching(/^lake query failed: .*nope.*\(sql: SELECT nope FROM market_data\)/),
    });
  });

  it('closes idempotently and refuses queries afterwards', async () => {
    const lake = await openLakeQuery(newRoot(), [marketData]);
    const pending = lake.query('SELECT count(*) AS n FROM market_data');
    await Promise.all([lake.close(), lake.close()]);
    expect(await pending).toEqual([{ n: 0n }]);
    await expect(lake.query('SELECT 1')).rejects.toBeInstanceOf(LakeClosedError);
    await expect(lake.refresh()).rejects.toBeInstanceOf(LakeClosedError);
  });

  it('keeps the previous views when a manifest turns out damaged', async () => {
    const root = newRoot();
    await writeLakeFile(root, marketData, [bar('AAPL', T1, '1.000000', 1)]);
    const lake = await open(root);
    await writeFile(path.join(root, 'market_data', '_manifest.json'), '{"format": 1, "dataset": "mar');
    await expect(lake.refresh()).rejects.toBeInstanceOf(ManifestError);
    expect(await lake.query('SELECT close FROM market_data')).toEqual([{ close: '1.000000' }]);
    await expect(openLakeQuery(root, [marketData])).rejects.toBeInstanceOf(ManifestError);
  });

  it('fails loudly when a committed file is missing', async () => {
    const root = newRoot();
    const file = await writeLakeFile(root, marketData, [bar('AAPL', T1, '1.000000', 1)]);
    await rm(path.join(root, 'market_data', file.path));
    await expect(openLakeQuery(root, [marketData])).rejects.toBeInstanceOf(LakeQueryError);
  });
});

describe('tierflow lake', () => {
  async function cli(...args: string[]): Promise<string> {
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => {
      out.push(`${parts.map(String).join(' ')}\n`);
    });
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    try {
      const program = new Command('tierflow').option('--data-dir <dir>').exitOverride();
      registerLake(program);
      await program.parseAsync(args, { from: 'user' });
    } finally {
      log.mockRestore();
      write.mockRestore();
    }
    return out.join('');
  }

  it('lists datasets and files from the manifests', async () => {
    const root = newRoot();
    await writeLakeFile(root, marketData, [bar('AAPL', T1, '1.000000', 1), bar('MSFT', T1, '1.000000', 2)]);
    await writeLakeFile(root, marketData, [bar('AAPL', '2024-03-05T00:00:00.000000Z', '1.000000', 3)]);
    const datasets = await cli('lake', '--lake', root, 'ls');
    expect(datasets).toMatch(/^dataset\s+partitions\s+files\s+rows\s+bytes\s+last position\s+commits/);
    expect(datasets).toMatch(/market_data\s+2\s+2\s+3\s+[\d,]+\s+3\s+2/);
    const files = await cli('lake', '--lake', root, 'ls', 'market_data');
    expect(files).toContain('market_data+00000000000000000001+00000000000000000002.parquet');
    expect(files).toMatch(/2024-03-05\s+market_data\+0+3\+0+3\.parquet\s+1\s/);
    expect(await cli('lake', '--lake', newRoot(), 'ls')).toMatch(/^no committed datasets under /);
  });

  it('prints query results as a table, CSV or JSON lines', async () => {
    const root = newRoot();
    await writeLakeFile(root, marketData, [bar('AAPL', T1, '1.500000', 1), bar('A,"B"', T2, '2.000000', 2)]);
    const sql = 'SELECT symbol, close, volume, bucket_start FROM market_data ORDER BY bucket_start';
    const table = await cli('lake', '--lake', root, 'query', sql);
    expect(table).toMatch(/^symbol\s+close\s+volume\s+bucket_start\n/);
    expect(table).toContain('2024-03-04T14:30:00.000000Z');
    expect(table.trim().endsWith('(2 rows)')).toBe(true);
    expect(await cli('lake', '--lake', root, 'query', sql, '--format', 'csv')).toBe(
      'symbol,close,volume,bucket_start\n' +
        'AAPL,1.500000,100,2024-03-04T14:30:00.000000Z\n' +
        '"A,""B""",2.000000,100,2024-03-04T14:31:00.000000Z\n',
    );
    const json = (await cli('lake', '--lake', root, 'query', sql, '--format', 'json')).trim().split('\n');
    expect(JSON.parse(json[0]!)).toEqual({
      symbol: 'AAPL',
      close: '1.500000',
      volume: '100',
      bucket_start: '2024-03-04T14:30:00.000000Z',
    });
    expect(await cli('lake', '--lake', root, 'query', 'SELECT symbol FROM market_data WHERE false')).toMatch(
      /^symbol\n─+\n\(0 rows\)/,
    );
  });
});
