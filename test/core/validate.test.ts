import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Invalid,
  ValidationError,
  compareDecimals,
  normaliseDecimalText,
  compileValidator,
  defineDataset,
  microsToTimestamp,
  parseTimestamp,
  t,
  timestampToMicros,
} from '../../src/core/index.ts';
import { marketData, trades } from '../../src/datasets/index.ts';

const bar = {
  symbol: 'AAPL',
  interval: '1m',
  bucket_start: '2024-03-04T14:30:00Z',
  open: '189.10',
  high: '189.50',
  low: '188.90',
  close: '189.20',
  volume: 12_000,
  source: 'test',
};

function rejection(rows: unknown[]): ValidationError {
  try {
    compileValidator(marketData)(rows);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error('expected a ValidationError');
}

describe('validator', () => {
  it('normalises a good row: decimals to their scale, timestamps to microseconds, int64 to bigint', () => {
    const [row] = compileValidator(marketData)([bar]);
    expect(row).toEqual({
      ...bar,
      bucket_start: '2024-03-04T14:30:00.000000Z',
      open: '189.100000',
      high: '189.500000',
      low: '188.900000',
      close: '189.200000',
      volume: 12_000n,
      vwap: null,
      trade_count: null,
    });
  });

  it.each([
    ['NaN price', { open: Number.NaN }, 'open', 'is NaN'],
    ['infinite price', { high: Number.POSITIVE_INFINITY }, 'high', 'is infinite'],
    ['negative volume', { volume: -5 }, 'volume', 'below the minimum 0'],
    ['missing key column', { symbol: undefined }, 'symbol', 'primary key column is missing'],
    ['null key column', { bucket_start: null }, 'bucket_start', 'primary key column is missing'],
    ['wrong type', { trade_count: '12' }, 'trade_count', 'expected a number'],
    ['over-long string', { symbol: 'X'.repeat(33) }, 'symbol', '33 characters long, the maximum is 32'],
    ['invalid timestamp', { bucket_start: '2024-02-30T00:00:00Z' }, 'bucket_start', 'not a calendar date'],
    ['garbage timestamp', { bucket_start: 'yesterday' }, 'bucket_start', 'not an ISO-8601 timestamp'],
    ['invalid Date', { bucket_start: new Date('nope') }, 'bucket_start', 'invalid Date'],
    ['value outside oneOf', { interval: '7m' }, 'interval', 'not one of'],
    ['too many decimals', { close: '189.1234567' }, 'close', 'more than 6 decimal places'],
    ['unknown field', { colour: 'red' }, 'colour', 'not a column'],
    ['inconsistent bar', { high: '100' }, 'high', 'below low'],
  ])('rejects %s, naming dataset, row and field', (_name, change, field, reason) => {
    const rows = [bar, bar, { ...bar, ...change }];
    const error = rejection(rows);
    expect(error.dataset).toBe('market_data');
    expect(error.rowIndex).toBe(2);
    expect(error.field).toBe(field);
    expect(error.reason).toContain(reason);
    expect(error.message).toContain(`market_data: row 2, field "${field}"`);
    expect(error.code).toBe('VALIDATION');
  });

  it('builds every row with exactly the dataset columns as own properties, whatever their names', () => {
    const odd = defineDataset({
      name: 'odd',
      version: 1,
      description: 'column names that are also Object.prototype members',
      columns: { constructor: t.text(), to_string: t.int32().nullable(), at: t.timestamp() },
      primaryKey: ['constructor'],
      eventTime: 'at',
    });
    const [row] = compileValidator(odd)([{ constructor: 'k', at: '2024-01-01T00:00:00Z' }]) as unknown as [
      Record<string, unknown>,
    ];
    expect(Object.keys(row)).toEqual(['constructor', 'to_string', 'at']);
    expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
    expect(row.constructor).toBe('k');
    // Rows of one batch are separate objects, not one reused.
    const rows = compileValidator(marketData)([bar, { ...bar, symbol: 'MSFT' }]) as Record<string, unknown>[];
    expect(rows.map((r) => r.symbol)).toEqual(['AAPL', 'MSFT']);
  });

  it('rejects a non-object row', () => {
    expect(rejection([bar, 42]).rowIndex).toBe(1);
  });

  it('rejects int64 values beyond 64 bits and unsafe numbers', () => {
    expect(rejection([{ ...bar, volume: 2n ** 63n }]).reason).toContain('does not fit in 64 bits');
    expect(rejection([{ ...bar, volume: 2 ** 60 }]).reason).toContain('not a safe integer');
  });

  it('rejects json that cannot be serialised', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() =>
      compileValidator(trades)([
        {
          symbol: 'A',
          exchange: 'X',
          trade_id: '1',
          event_time: '2024-01-01T00:00:00Z',
          price: 1,
          size: 1,
          conditions: cyclic,
        },
      ]),
    ).toThrow(/field "conditions": is not JSON-serialisable/);
  });
});

describe('timestamps', () => {
  it('keeps microseconds and applies offsets', () => {
    expect(parseTimestamp('2024-03-04T09:30:00.123456-05:00')).toEqual({
      ok: true,
      value: '2024-03-04T14:30:00.123456Z',
    });
    expect(parseTimestamp('2024-03-04 14:30')).toEqual({ ok: true, value: '2024-03-04T14:30:00.000000Z' });
    expect(parseTimestamp('0001-01-01T00:00:00Z')).toEqual({
      ok: true,
      value: '0001-01-01T00:00:00.000000Z',
    });
    expect(parseTimestamp('2024-03-04T14:30:00.1234567Z').ok).toBe(false);
    expect(parseTimestamp('2024-03-04T24:00:00Z').ok).toBe(false);
  });

  it('round-trips any microsecond instant in 1900–2200 through text', () => {
    const min = timestampToMicros('1900-01-01T00:00:00.000000Z');
    const max = timestampToMicros('2200-01-01T00:00:00.000000Z');
    fc.assert(
      fc.property(fc.bigInt({ min, max }), (micros) => {
        const text = microsToTimestamp(micros);
        const parsed = parseTimestamp(text);
        expect(parsed).toEqual({ ok: true, value: text });
        expect(timestampToMicros(text)).toBe(micros);
      }),
    );
  });

  it('never throws on arbitrary strings: a timestamp or a reason', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const r = parseTimestamp(s);
        expect(typeof r.ok).toBe('boolean');
      }),
    );
  });
});

describe('decimals', () => {
  const money = defineDataset({
    name: 'money',
    version: 1,
    description: 'decimal test',
    columns: { id: t.int32(), at: t.timestamp(), amount: t.decimal(10, 2) },
    primaryKey: ['id'],
    eventTime: 'at',
  });
  const validate = compileValidator(money);
  const amount = (v: unknown) =>
    (validate([{ id: 1, at: '2024-01-01T00:00:00Z', amount: v }])[0] as { amount: string }).amount;

  it('normalises text and numbers to the declared scale', () => {
    expect(amount('12.5')).toBe('12.50');
    expect(amount(12.5)).toBe('12.50');
    expect(amount('-0.00')).toBe('0.00');
    expect(amount('00012')).toBe('12.00');
    expect(amount(0.1 + 0.2)).toBe('0.30');
    expect(() => amount('12.345')).toThrow(/more than 2 decimal places/);
    expect(() => amount('123456789.00')).toThrow(/does not fit in decimal\(10,2\)/);
    expect(() => amount('1e5')).toThrow(/not a decimal number/);
  });

  it('normalises decimal text exactly like a plain reference implementation', () => {
    const reference = (text: string, precision: number, scale: number): string | undefined => {
      const m = /^([+-]?)(\d+)(?:\.(\d+))?$/.exec(text);
      if (!m) return undefined;
      const int = m[2]!.replace(/^0+(?=\d)/, '');
      const frac = (m[3] ?? '').replace(/0+$/, '');
      if (frac.length > scale || (int === '0' ? 0 : int.length) > precision - scale) return undefined;
      const zero = /^0*$/.test(int + frac);
      return `${m[1] === '-' && !zero ? '-' : ''}${int}${scale > 0 ? '.' + frac.padEnd(scale, '0') : ''}`;
    };
    const digits = fc.stringMatching(/^[0-9]{1,12}$/);
    const text = fc
      .tuple(fc.constantFrom('', '-', '+'), digits, fc.option(digits, { nil: undefined }))
      .map(([sign, int, frac]) => `${sign}${int}${frac === undefined ? '' : '.' + frac}`);
    fc.assert(
      fc.property(text, fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 8 }), (t, p, sc) => {
        const precision = Math.max(p, sc);
        const ours = normaliseDecimalText(t, precision, sc);
        expect(ours instanceof Invalid ? undefined : ours).toBe(reference(t, precision, sc));
      }),
      { numRuns: 2000 },
    );
    expect(normaliseDecimalText('0.5', 2, 2)).toBe('0.50');
    expect(normaliseDecimalText('1.5', 2, 2)).toBeInstanceOf(Invalid);
    for (const bad of ['', '.5', '5.', '1e3', '--1', '1.2.3', ' ', 'abc']) {
      expect(normaliseDecimalText(bad, 10, 2)).toBeInstanceOf(Invalid);
    }
  });

  /** The validator of a one-decimal-column dataset, as a function of one value. */
  const decimalColumn = (column: ReturnType<typeof t.decimal>) => {
    const dataset = defineDataset({
      name: 'bounds',
      version: 1,
      description: 'one bounded decimal',
      columns: { id: t.int32(), at: t.timestamp(), x: column },
      primaryKey: ['id'],
      eventTime: 'at',
    });
    const validate = compileValidator(dataset);
    return (v: unknown) => (validate([{ id: 1, at: '2024-01-01T00:00:00Z', x: v }])[0] as { x: string }).x;
  };

  it('checks decimal bounds exactly, where a double would round the value onto the bound', () => {
    const ratio = decimalColumn(t.decimal(38, 20).min(0).max(1));
    expect(ratio('1')).toBe('1.00000000000000000000');
    expect(ratio('0')).toBe('0.00000000000000000000');
    // Both parse to the double 1 and to -1e-20 > -Number.EPSILON: only the text comparison refuses them.
    expect(() => ratio('1.00000000000000000001')).toThrow(
      /field "x": 1.00000000000000000001 is above the maximum 1/,
    );
    expect(() => ratio('-0.00000000000000000001')).toThrow(/is below the minimum 0/);
    // A bound is the decimal its author wrote, not the double's binary expansion at 20 places.
    const tenth = decimalColumn(t.decimal(38, 20).min(0.1).max(0.3));
    expect(tenth('0.1')).toBe('0.10000000000000000000');
    expect(tenth('0.3')).toBe('0.30000000000000000000');
    expect(() => tenth('0.09999999999999999999')).toThrow(/is below the minimum 0.1/);
    expect(() => tenth('0.30000000000000000001')).toThrow(/is above the maximum 0.3/);
    // A bound that is no decimal of the column's scale is compared as a number.
    const coarse = decimalColumn(t.decimal(5, 1).min(0.25));
    expect(coarse('0.3')).toBe('0.3');
    expect(() => coarse('0.2')).toThrow(/0.2 is below the minimum 0.25/);
  });

  it('trims whitespace around decimal text, Unicode spaces included', () => {
    expect(amount(' 12.5\t')).toBe('12.50');
    expect(amount('\u00a012.5\u2003')).toBe('12.50');
    expect(() => amount('12 .5')).toThrow(/not a decimal number/);
  });

  it('orders normalised decimals like their numeric values', () => {
    const cents = fc.integer({ min: -99_999_999, max: 99_999_999 });
    fc.assert(
      fc.property(cents, cents, (a, b) => {
        expect(Math.sign(compareDecimals(amount(a / 100), amount(b / 100)))).toBe(Math.sign(a - b));
      }),
    );
  });

  it('accepts every cent amount that fits, unchanged in value', () => {
    fc.assert(
      fc.property(fc.integer({ min: -9_999_999_999, max: 9_999_999_999 }), (cents) => {
        const text = (cents / 100).toFixed(2);
        expect(Number(amount(text))).toBe(Number(text));
      }),
    );
  });
});
