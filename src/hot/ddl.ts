import type { ColumnDef, Dataset } from '../core/index.ts';
import { ident, qualified } from './sql.ts';

/**
 * Columns every hot table carries besides the dataset's own: the sequence guard (an older change
 * never overwrites a newer one) and the time the row was last written.
 */
export const SEQ_COLUMN = '_seq';
export const UPDATED_AT_COLUMN = '_updated_at';

export function pgType(col: ColumnDef): string {
  switch (col.kind) {
    case 'text':
      return col.maxLength === undefined ? 'text' : `varchar(${col.maxLength})`;
    case 'int32':
      return 'integer';
    case 'int64':
      return 'bigint';
    case 'float64':
      return 'double precision';
    case 'decimal':
      return `numeric(${col.precision},${col.scale})`;
    case 'bool':
      return 'boolean';
    case 'timestamp':
      return 'timestamptz';
    case 'date':
      return 'date';
    case 'json':
      return 'jsonb';
  }
}

/** The element type to cast a parameter array to, for `unnest($1::<type>[])`. */
export function pgArrayElementType(col: ColumnDef): string {
  return col.kind === 'text' ? 'text' : pgType(col);
}

export function columnDefinition(col: ColumnDef): string {
  return `${ident(col.name)} ${pgType(col)}${col.nullable ? '' : ' NOT NULL'}`;
}

/** CREATE TABLE for a dataset, idempotent. */
export function createTableSql(dataset: Dataset<unknown>, schema: string): string[] {
  const table = qualified(schema, dataset.name);
  const columns = dataset.columns.map((c) => `  ${columnDefinition(c)}`);
  columns.push(`  ${ident(SEQ_COLUMN)} bigint`);
  columns.push(`  ${ident(UPDATED_AT_COLUMN)} timestamptz NOT NULL DEFAULT now()`);
  const pk = dataset.primaryKey.map(ident).join(', ');
  const timeIndex = ident(`${dataset.name}_${dataset.eventTime}_idx`);
  return [
    `CREATE TABLE IF NOT EXISTS ${table} (\n${columns.join(',\n')},\n  PRIMARY KEY (${pk})\n)`,
    `COMMENT ON TABLE ${table} IS ${literal(`tierflow dataset ${dataset.name} v${dataset.version}: ${dataset.description}`)}`,
    `CREATE INDEX IF NOT EXISTS ${timeIndex} ON ${table} (${ident(dataset.eventTime)})`,
  ];
}

/** Columns added by later versions of a declaration (schema evolution adds nullable columns). */
export function addColumnSql(dataset: Dataset<unknown>, schema: string, col: ColumnDef): string {
  return `ALTER TABLE ${qualified(schema, dataset.name)} ADD COLUMN IF NOT EXISTS ${columnDefinition(col)}`;
}

/** A string literal for DDL statements, which take no parameters. */
function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
