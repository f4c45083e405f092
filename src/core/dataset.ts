import { createHash } from 'node:crypto';
import type { AnyColumn, ColumnBuilder, ColumnSpec } from './column.ts';
import { typeName } from './column.ts';
import { SchemaDefinitionError } from './errors.ts';

export interface ColumnDef extends ColumnSpec {
  readonly name: string;
}

/** A row of a dataset: required columns, and nullable ones that may be null or left out. */
export type RowOf<C extends Record<string, AnyColumn>> = {
  [K in keyof C as C[K] extends ColumnBuilder<unknown, false, unknown> ? K : never]: C[K]['__value'];
} & {
  [K in keyof C as C[K] extends ColumnBuilder<unknown, false, unknown> ? never : K]?: C[K]['__value'] | null;
};

/** What a caller may write: the same shape, with the looser input types (Date for timestamps, …). */
export type InputOf<C extends Record<string, AnyColumn>> = {
  [K in keyof C as C[K] extends ColumnBuilder<unknown, false, unknown> ? K : never]: C[K]['__input'];
} & {
  [K in keyof C as C[K] extends ColumnBuilder<unknown, false, unknown> ? never : K]?: C[K]['__input'] | null;
};

/** A check across columns of one row: returns undefined when the row is fine. */
export type RowCheck = (
  row: Readonly<Record<string, unknown>>,
) => { field: string; reason: string } | undefined;

export interface DatasetDeclaration<C extends Record<string, AnyColumn>> {
  readonly name: string;
  readonly version: number;
  readonly description: string;
  readonly columns: C;
  readonly primaryKey: readonly (keyof C & string)[];
  readonly eventTime: keyof C & string;
  readonly checks?: readonly RowCheck[];
}

export interface Dataset<Row = Record<string, unknown>, Input = Row> {
  readonly name: string;
  readonly version: number;
  readonly description: string;
  readonly columns: readonly ColumnDef[];
  readonly primaryKey: readonly string[];
  readonly eventTime: string;
  readonly checks: readonly RowCheck[];
  /** Phantom: the row type, for typed repositories. */
  readonly __row?: Row;
  readonly __input?: Input;
}

export type RowOfDataset<D> = D extends Dataset<infer R, unknown> ? R : never;
export type InputOfDataset<D> = D extends Dataset<unknown, infer I> ? I : never;

const IDENTIFIER = /^[a-z][a-z0-9_]{0,62}$/;
/** Taken by the lake's hive partition directories (year=/month=/day=); engines add them as columns. */
const RESERVED_COLUMNS = new Set(['year', 'month', 'day']);

export function defineDataset<const C extends Record<string, AnyColumn>>(
  declaration: DatasetDeclaration<C>,
): Dataset<RowOf<C>, InputOf<C>> {
  const { name, version, primaryKey, eventTime } = declaration;
  if (!IDENTIFIER.test(name))
    throw new SchemaDefinitionError(`dataset name "${name}" is not a lower-case identifier`);
  if (!Number.isInteger(version) || version < 1) {
    throw new SchemaDefinitionError(`${name}: version must be a positive integer`);
  }
  const columns: ColumnDef[] = Object.entries(declaration.columns).map(([columnName, builder]) => {
    if (!IDENTIFIER.test(columnName) || columnName.startsWith('_')) {
      throw new SchemaDefinitionError(`${name}: column name "${columnName}" is not a lower-case identifier`);
    }
    if (RESERVED_COLUMNS.has(columnName)) {
      throw new SchemaDefinitionError(
        `${name}: column name "${columnName}" is reserved for the lake's partition directories`,
      );
    }
    return { name: columnName, ...builder.spec };
  });
  const byName = new Map(columns.map((c) => [c.name, c]));
  if (primaryKey.length === 0) throw new SchemaDefinitionError(`${name}: a primary key is required`);
  for (const key of primaryKey) {
    const col = byName.get(key);
    if (!col) throw new SchemaDefinitionError(`${name}: primary key column "${key}" is not declared`);
    if (col.nullable)
      throw new SchemaDefinitionError(`${name}: primary key column "${key}" cannot be nullable`);
    if (col.kind === 'json' || col.kind === 'float64') {
      throw new SchemaDefinitionError(`${name}: primary key column "${key}" cannot be of kind ${col.kind}`);
    }
  }
  const time = byName.get(eventTime);
  if (!time || time.kind !== 'timestamp' || time.nullable) {
    throw new SchemaDefinitionError(`${name}: event-time column "${eventTime}" must be a non-null timestamp`);
  }
  for (const col of columns) {
    if (col.kind === 'decimal') {
      const { precision = 0, scale = -1 } = col;
      if (precision < 1 || precision > 38 || scale < 0 || scale > precision) {
        throw new SchemaDefinitionError(
          `${name}.${col.name}: decimal(${precision},${scale}) is out of range`,
        );
      }
    }
  }
  return {
    name,
    version,
    description: declaration.description,
    columns,
    primaryKey: [...primaryKey],
    eventTime,
    checks: declaration.checks ?? [],
  };
}

export interface DatasetDescription {
  name: string;
  version: number;
  description: string;
  primaryKey: string[];
  eventTime: string;
  columns: { name: string; type: string; nullable: boolean; min?: number; max?: number; oneOf?: string[] }[];
  fingerprint: string;
}

/**
 * The stable JSON description the schema registry stores. The fingerprint covers everything that
 * shapes stored data, so two declarations with the same fingerprint are interchangeable.
 */
export function describeDataset(dataset: Dataset<unknown, unknown>): DatasetDescription {
  const columns = dataset.columns.map((c) => ({
    name: c.name,
    type: typeName(c),
    nullable: c.nullable,
    ...(c.min === undefined ? {} : { min: c.min }),
    ...(c.max === undefined ? {} : { max: c.max }),
    ...(c.oneOf === undefined ? {} : { oneOf: [...c.oneOf] }),
  }));
  const shape = { name: dataset.name, primaryKey: dataset.primaryKey, eventTime: dataset.eventTime, columns };
  const fingerprint = createHash('sha256').update(JSON.stringify(shape)).digest('hex');
  return {
    name: dataset.name,
    version: dataset.version,
    description: dataset.description,
    primaryKey: [...dataset.primaryKey],
    eventTime: dataset.eventTime,
    columns,
    fingerprint,
  };
}
