import { describe, expect, it } from 'vitest';
import type { Change, Dataset } from '../../src/core/index.ts';
import { defineDataset, t, validatorFor } from '../../src/core/index.ts';
import { lakeTable } from '../../src/lake/arrow-table.ts';
import { lakeBatchOf } from '../../src/lake/lake-batch.ts';

const ticks = defineDataset({
  name: 'ticks',
  version: 1,
  description: 'timestamps, decimals and text',
  columns: {
    at: t.timestamp(),
    price: t.decimal(38, 4).nullable(),
    venue: t.text().nullable(),
  },
  primaryKey: ['at'],
  eventTime: 'at',
}) as unknown as Dataset<unknown, unknown>;

/** Microseconds the slow way: Date with the full year set (Date.UTC would read 50 as 1950). */
function micros(ts: string): bigint {
  const d = new Date(0);
  d.setUTCFullYear(Number(ts.slice(0, 4)), Number(ts.slice(5, 7)) - 1, Number(ts.slice(8, 10)));
  d.setUTCHours(Number(ts.slice(11, 13)), Number(ts.slice(14, 16)), Number(ts.slice(17, 19)), 0);
  return BigInt(d.getTime()) * 1000n + BigInt(ts.slice(20, 26));
}

describe('lake Arrow columns', () => {
  it('converts timestamps of any year, decimals of either size and non-ASCII text exactly', () => {
    const input = [
      { at: '0001-01-01T00:00:00.000001Z', price: '-0.0001', venue: 'ü 漢字 🚀' },
      { at: '0050-06-15T12:30:45.5Z', price: '123456789012.3456', venue: 'XNAS' },
      { at: '1969-12-31T23:59:59.999999Z', price: '-9999999999999999999999999999999999.9999', venue: null },
      { at: '2000-02-29T00:00:00Z', price: null, venue: '' },
      { at: '9999-12-31T23:59:59.999999Z', price: '12345678901.2345', venue: 'a' },
    ];
    const rows = validatorFor(ticks)(input) as Record<string, unknown>[];
    const changes: Change[] = rows.map((row, i) => ({
      dataset: 'ticks',
      op: 'u',
      key: { at: row.at },
      after: row,
      eventTime: row.at as string,
      position: BigInt(i),
      source: 'test',
      schemaVersion: 1,
    }));
    const table = lakeTable(ticks, lakeBatchOf(ticks, changes), 0);
    const at = table.getChild('at')!.toArray() as BigInt64Array;
    expect([...at]).toEqual(rows.map((r) => micros(r.at as string)));
    const price = table.getChild('price')!;
    const unscaled = (i: number) => {
      const words = price.data[0]!.values.subarray(i * 4, i * 4 + 4) as Uint32Array;
      let n = 0n;
      for (let w = 3; w >= 0; w--) n = (n << 32n) | BigInt(words[w]!);
      return n >= 1n << 127n ? n - (1n << 128n) : n;
    };
    expect([0, 1, 2, 4].map(unscaled)).toEqual([
      -1n,
      1234567890123456n,
      -99999999999999999999999999999999999999n,
      123456789012345n,
    ]);
    expect(price.get(3)).toBeNull();
    expect([...Array(5).keys()].map((i) => table.getChild('venue')!.get(i))).toEqual([
      'ü 漢字 🚀',
      'XNAS',
      null,
      '',
      'a',
    ]);
  });
});
