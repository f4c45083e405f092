import type { ColumnDef } from '../core/index.ts';

/**
 * SQL text helpers for DuckDB. Statements that take no parameters (CREATE VIEW with its file
 * list) need literals, so every identifier and literal reaching such SQL passes through here.
 * The identifier rule is the SQL standard's, which PostgreSQL shares.
 */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A string literal; DuckDB, like standard SQL, escapes only the quote itself. */
export function quoteLiteral(text: string): string {
  if (text.includes('\0')) throw new RangeError('a SQL literal cannot contain a NUL character');
  return `'${text.replaceAll("'", "''")}'`;
}

/** The DuckDB type of a dataset column, as the lake's Parquet files are read back. */
export function duckdbType(col: ColumnDef): string {
  switch (col.kind) {
    case 'text':
    case 'json':
      return 'VARCHAR';
    case 'int32':
      return 'INTEGER';
    case 'int64':
      return 'BIGINT';
    case 'float64':
      return 'DOUBLE';
    case 'decimal':
      return `DECIMAL(${col.precision ?? 38},${col.scale ?? 0})`;
    case 'bool':
      return 'BOOLEAN';
    case 'timestamp':
      return 'TIMESTAMPTZ';
    case 'date':
      return 'DATE';
  }
}
