import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { useTierflow } from '../support/hot.ts';

const SP500 = path.resolve('node_modules/vega-datasets/data/sp500-2000.csv');

describe('tierflow import', () => {
  const ctx = useTierflow();
  const cli = (...args: string[]) =>
    main(['node', 'tierflow', '--database-url', ctx.url, '--schema', ctx.schema, ...args]);

  async function fingerprint() {
    const { rows } = await ctx.tf.hot.pool.query(
      `SELECT count(*)::int AS n, md5(string_agg(concat_ws('|', symbol, interval, bucket_start, open, high, low, close, volume, vwap, trade_count, source), ',' ORDER BY bucket_start)) AS digest
       FROM "${ctx.schema}".market_data WHERE symbol = 'SPX'`,
    );
    return rows[0] as { n: number; digest: string };
  }

  it('imports the real S&P 500 daily bars of 2000–2020, and a re-import changes nothing', async () => {
    const args = [
      'import',
      'market_data',
      SP500,
      '--map',
      'date=bucket_start',
      '--set',
      'symbol=SPX,interval=1d,source=vega-datasets',
    ];
    expect(await cli(...args)).toBe(0);
    const first = await fingerprint();
    // Every data row of the file: 5,105 in vega-datasets 3.2.1 (the last line has no newline).
    expect(first.n).toBe(5105);
    const day = await ctx.tf.repositories.marketData.get({
      symbol: 'SPX',
      interval: '1d',
      bucket_start: '2000-01-03',
    });
    expect(day).toMatchObject({
      open: '1469.250000',
      high: '1478.000000',
      low: '1438.359985',
      close: '1455.219971',
      volume: 931_800_000n,
    });

    const updatedBefore = await ctx.tf.hot.pool.query(
      `SELECT max(_updated_at) AS t FROM "${ctx.schema}".market_data`,
    );
    expect(await cli(...args)).toBe(0);
    expect(await fingerprint()).toEqual(first);
    const updatedAfter = await ctx.tf.hot.pool.query(
      `SELECT max(_updated_at) AS t FROM "${ctx.schema}".market_data`,
    );
    expect(updatedAfter.rows[0].t).toEqual(updatedBefore.rows[0].t);
  });

  it('writes nothing from a file with one bad row, and names its line and field', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tierflow-import-'));
    const file = path.join(dir, 'bars.csv');
    const lines = ['date,open,high,low,close,volume'];
    for (let i = 1; i <= 20; i++)
      lines.push(`2021-01-${String(i).padStart(2, '0')},10,11,9,10,${i === 17 ? -3 : 100}`);
    await writeFile(file, lines.join('\n'));
    const stderr: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (
      stderr.push(String(chunk)),
      true
    )) as typeof process.stderr.write;
    let code: number;
    try {
      code = await cli(
        'import',
        'market_data',
        file,
        '--map',
        'date=bucket_start',
        '--set',
        'symbol=BAD,interval=1d,source=t',
        '--batch-size',
        '5',
      );
    } finally {
      process.stderr.write = write;
    }
    expect(code).toBe(1);
    expect(stderr.join('')).toMatch(
      /^tierflow: market_data: row 18, field "volume": -3 is below the minimum 0 \(line 18 of the file\) \[VALIDATION\]\n$/,
    );
    const { rows } = await ctx.tf.hot.pool.query(
      `SELECT count(*)::int AS n FROM "${ctx.schema}".market_data WHERE symbol = 'BAD'`,
    );
    expect(rows[0].n).toBe(0);
  });

  it('imports NDJSON with typed values', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tierflow-import-'));
    const file = path.join(dir, 'news.ndjson');
    const article = (id: string) => ({
      id,
      published_at: '2024-03-04T14:30:00.123456Z',
      source: 'wire',
      headline: `h ${id}`,
      symbols: ['AAPL'],
    });
    await writeFile(file, [article('a'), article('b')].map((a) => JSON.stringify(a)).join('\n') + '\n');
    expect(await cli('import', 'news', file)).toBe(0);
    expect(await ctx.tf.repositories.news.get({ id: 'b' })).toMatchObject({
      headline: 'h b',
      symbols: ['AAPL'],
    });
  });
});
