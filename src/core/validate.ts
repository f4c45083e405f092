import type { ColumnDef, Dataset } from './dataset.ts';
import { ValidationError } from './errors.ts';
import { Invalid, compareDecimals, normaliseDecimalText } from './decimal.ts';
import { describe, parseDate, parseTimestamp } from './time.ts';

/** Normalises one value, or returns why it is not acceptable. */
type Normaliser = (value: unknown) => unknown;

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function outOfBounds(col: ColumnDef, n: number): Invalid | undefined {
  if (col.min !== undefined && n < col.min) return new Invalid(`${n} is below the minimum ${col.min}`);
  if (col.max !== undefined && n > col.max) return new Invalid(`${n} is above the maximum ${col.max}`);
  return undefined;
}

function notFinite(value: unknown): Invalid | undefined {
  if (typeof value !== 'number') return new Invalid(`expected a number, got ${describe(value)}`);
  if (Number.isNaN(value)) return new Invalid('is NaN');
  if (!Number.isFinite(value)) return new Invalid('is infinite');
  return undefined;
}

function normaliser(col: ColumnDef): Normaliser {
  const bounded = col.min !== undefined || col.max !== undefined;
  switch (col.kind) {
    case 'text':
      return (v) => {
        if (typeof v !== 'string') return new Invalid(`expected a string, got ${describe(v)}`);
        if (col.maxLength !== undefined && v.length > col.maxLength) {
          return new Invalid(`is ${v.length} characters long, the maximum is ${col.maxLength}`);
        }
        if (v.includes('\u0000'))
          return new Invalid('contains a NUL character, which PostgreSQL text cannot store');
        if (col.oneOf && !col.oneOf.includes(v))
          return new Invalid(`"${v}" is not one of ${col.oneOf.join(', ')}`);
        return v;
      };
    case 'int32':
      return (v) => {
        const bad = notFinite(v);
        if (bad) return bad;
        const n = v as number;
        if (!Number.isInteger(n)) return new Invalid(`${n} is not an integer`);
        if (n < INT32_MIN || n > INT32_MAX) return new Invalid(`${n} does not fit in 32 bits`);
        return (bounded && outOfBounds(col, n)) || n;
      };
    case 'int64':
      return (v) => {
        let big: bigint;
        if (typeof v === 'bigint') big = v;
        else if (typeof v === 'number') {
          const bad = notFinite(v);
          if (bad) return bad;
          if (!Number.isSafeInteger(v)) return new Invalid(`${v} is not a safe integer (pass a bigint)`);
          big = BigInt(v);
        } else if (typeof v === 'string' && /^[+-]?\d+$/.test(v)) big = BigInt(v);
        else return new Invalid(`expected an integer, got ${describe(v)}`);
        if (big < INT64_MIN || big > INT64_MAX) return new Invalid(`${big} does not fit in 64 bits`);
        return (bounded && outOfBounds(col, Number(big))) || big;
      };
    case 'float64':
      return (v) => notFinite(v) ?? ((bounded && outOfBounds(col, v as number)) || v);
    case 'decimal':
      return decimalNormaliser(col, bounded);
    case 'bool':
      return (v) => (typeof v === 'boolean' ? v : new Invalid(`expected a boolean, got ${describe(v)}`));
    case 'timestamp':
      return (v) => {
        const r = parseTimestamp(v);
        return r.ok ? r.value : new Invalid(r.reason);
      };
    case 'date':
      return (v) => {
        const r = parseDate(v);
        return r.ok ? r.value : new Invalid(r.reason);
      };
    case 'json':
      return (v) => {
        if (v === undefined) return new Invalid('is undefined');
        let text: string | undefined;
        try {
          text = JSON.stringify(v);
        } catch (error) {
          return new Invalid(`is not JSON-serialisable: ${(error as Error).message}`);
        }
        // A function or a symbol has no JSON text at all.
        if (text === undefined) return new Invalid(`is not JSON-serialisable: ${describe(v)}`);
        return v;
      };
  }
}

/** Decimals become text with exactly `scale` fractional digits, as PostgreSQL prints numeric(p,s). */
function decimalNormaliser(col: ColumnDef, bounded: boolean): Normaliser {
  const precision = col.precision ?? 38;
  const scale = col.scale ?? 0;
  const outside = decimalBounds(col, scale);
  return (v) => {
    let text: string;
    if (typeof v === 'number') {
      const bad = notFinite(v);
      if (bad) return bad;
      text = v.toFixed(scale);
      const back = Number(text);
      if (back !== v && Math.abs(back - v) > Number.EPSILON * Math.abs(v) * 4) {
        return new Invalid(`${v} has more than ${scale} decimal places`);
      }
    } else if (typeof v === 'string') text = printableAsciiEnds(v) ? v : v.trim();
    else return new Invalid(`expected a decimal number or string, got ${describe(v)}`);
    const normal = normaliseDecimalText(text, precision, scale);
    if (normal instanceof Invalid) return normal;
    return (bounded && outside(normal)) || normal;
  };
}

/** No whitespace to trim at either end (a cheaper test than trimming). */
function printableAsciiEnds(v: string): boolean {
  const first = v.charCodeAt(0);
  const last = v.charCodeAt(v.length - 1);
  return first > 32 && first < 127 && last > 32 && last < 127;
}

/**
 * The bounds check of a decimal column, on its normalised text: compared as decimals of the
 * column's scale, exactly and without parsing a double (which rounds a decimal(38,10)). A bound
 * that is no decimal of that scale (0.25 on a decimal(5,1)) is compared as a number.
 */
function decimalBounds(col: ColumnDef, scale: number): (normal: string) => Invalid | undefined {
  const asDecimal = (bound: number | undefined): string | null | undefined => {
    if (bound === undefined) return undefined;
    // The shortest text that reads back as the bound (0.1, not 0.1000000000000000055511…): what
    // the dataset's author wrote. Exponent forms and more digits than the scale fail to normalise.
    const normal = normaliseDecimalText(String(bound), Number.MAX_SAFE_INTEGER, scale);
    return typeof normal === 'string' ? normal : null;
  };
  const min = asDecimal(col.min);
  const max = asDecimal(col.max);
  if (min === null || max === null) return (normal) => outOfBounds(col, Number(normal));
  return (normal) => {
    if (min !== undefined && compareDecimals(normal, min) < 0)
      return new Invalid(`${normal} is below the minimum ${col.min}`);
    if (max !== undefined && compareDecimals(normal, max) > 0)
      return new Invalid(`${normal} is above the maximum ${col.max}`);
    return undefined;
  };
}

export type Validator<Row> = (rows: readonly unknown[]) => Row[];

/**
 * A function making a row object from the values of `names`, in order, as one object literal: all
 * rows then share one shape from the start, which V8 builds several times faster than an object
 * filled key by key. Names are quoted by JSON.stringify and used as computed keys, so any column
 * name (even `__proto__`) becomes an own property.
 */
function rowFactory(names: readonly string[]): (values: readonly unknown[]) => Record<string, unknown> {
  const fields = names.map((name, i) => `[${JSON.stringify(name)}]: values[${i}]`).join(', ');
  return new Function('values', `return { ${fields} };`) as (
    values: readonly unknown[],
  ) => Record<string, unknown>;
}

/**
 * Compiles the validator of a dataset: it checks a whole batch and returns normalised copies, or
 * throws a ValidationError naming the first bad row and field. Nothing is written before a batch
 * has passed, so a bad row leaves nothing half written.
 */
export function compileValidator<Row>(dataset: Dataset<Row>): Validator<Row> {
  const columns = dataset.columns.map((col) => ({
    name: col.name,
    nullable: col.nullable,
    isKey: dataset.primaryKey.includes(col.name),
    normalise: normaliser(col),
  }));
  const known = new Set(dataset.columns.map((c) => c.name));
  const makeRow = rowFactory(columns.map((c) => c.name));
  return (rows) => {
    // One row's values, reused row after row; per call, so a validation inside a getter of an
    // input row (or any re-entry) has its own, and nothing outlives the call.
    const values: unknown[] = columns.map(() => null);
    const out: Row[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const input = rows[i];
      if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        throw new ValidationError(dataset.name, i, '*', `expected an object, got ${describe(input)}`);
      }
      const record = input as Record<string, unknown>;
      for (let c = 0; c < columns.length; c++) {
        const col = columns[c]!;
        const value = record[col.name];
        if (value === undefined || value === null) {
          if (col.nullable) {
            values[c] = null;
            continue;
          }
          const reason = col.isKey ? 'primary key column is missing' : 'is required';
          throw new ValidationError(
            dataset.name,
            i,
            col.name,
            value === null ? `${reason} (got null)` : reason,
          );
        }
        const r = col.normalise(value);
        if (r instanceof Invalid) throw new ValidationError(dataset.name, i, col.name, r.reason);
        values[c] = r;
      }
      for (const field in record) {
        if (!known.has(field))
          throw new ValidationError(dataset.name, i, field, 'is not a column of this dataset');
      }
      const row = makeRow(values);
      for (const check of dataset.checks) {
        const problem = check(row);
        if (problem) throw new ValidationError(dataset.name, i, problem.field, problem.reason);
      }
      out[i] = row as Row;
    }
    return out;
  };
}

const validators = new WeakMap<Dataset<unknown>, Validator<unknown>>();

/** The compiled validator of a dataset, compiled once. */
export function validatorFor<Row>(dataset: Dataset<Row, unknown>): Validator<Row> {
  let v = validators.get(dataset as Dataset<unknown>);
  if (!v) {
    v = compileValidator(dataset as Dataset<unknown>);
    validators.set(dataset as Dataset<unknown>, v);
  }
  return v as Validator<Row>;
}

/**
 * Normalises the given fields of a partial row (a key to look up, a filter): each named field must
 * be a column, each value valid for it. `rowIndex` places the error when the fields come from a batch.
 */
export function normaliseFields(
  dataset: Dataset<unknown, unknown>,
  fields: Readonly<Record<string, unknown>>,
  options: { rowIndex?: number; required?: readonly string[] } = {},
): Record<string, unknown> {
  const rowIndex = options.rowIndex ?? 0;
  const out: Record<string, unknown> = {};
  for (const name of options.required ?? []) {
    if (fields[name] === undefined || fields[name] === null) {
      throw new ValidationError(dataset.name, rowIndex, name, 'primary key column is missing');
    }
  }
  for (const [name, value] of Object.entries(fields)) {
    const col = dataset.columns.find((c) => c.name === name);
    if (!col) throw new ValidationError(dataset.name, rowIndex, name, 'is not a column of this dataset');
    if (value === null) {
      out[name] = null;
      continue;
    }
    const r = normaliser(col)(value);
    if (r instanceof Invalid) throw new ValidationError(dataset.name, rowIndex, name, r.reason);
    out[name] = r;
  }
  return out;
}
