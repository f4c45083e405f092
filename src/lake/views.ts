import type { Dataset } from '../core/index.ts';
import { duckdbType, quoteIdent, quoteLiteral } from './duckdb-sql.ts';

/**
 * The SQL of the two views each dataset gets in the lake query engine. `<dataset>_history` has
 * every row version of every live file; `<dataset>` has the latest version of each primary key,
 * without keys whose latest version is a delete. Both have a fixed column list, the dataset's
 * declared columns first, whichever files are live, so a query written against the declaration
 * works on an empty lake and on files written before a column was added.
 */

export interface ViewColumn {
  readonly name: string;
  readonly type: string;
}

/** Columns the writer adds to every row, after the dataset's own. */
export const METADATA_COLUMNS: readonly ViewColumn[] = [
  { name: '_op', type: 'VARCHAR' },
  { name: '_position', type: 'BIGINT' },
  { name: '_ingested_at', type: 'TIMESTAMPTZ' },
  { name: '_schema_version', type: 'INTEGER' },
];

/** The hive directories `year=YYYY/month=MM/day=DD`, read as integers. */
export const PARTITION_COLUMNS: readonly ViewColumn[] = [
  { name: 'year', type: 'INTEGER' },
  { name: 'month', type: 'INTEGER' },
  { name: 'day', type: 'INTEGER' },
];

type AnyDataset = Dataset<unknown, unknown>;

export function historyViewName(dataset: AnyDataset): string {
  return `${dataset.name}_history`;
}

export function latestViewName(dataset: AnyDataset): string {
  return dataset.name;
}

/**
 * read_parquet over an explicit file list, never a glob: only committed files are visible.
 * union_by_name lets files of older schema versions, which lack later nullable columns, be read
 * together with newer ones.
 */
export function parquetSource(files: readonly string[]): string {
  const list = files.map(quoteLiteral).join(', ');
  const hiveTypes = PARTITION_COLUMNS.map((c) => `${quoteLiteral(c.name)}: ${c.type}`).join(', ');
  return (
    `read_parquet([${list}], hive_partitioning = true, union_by_name = true, ` +
    `hive_types = {${hiveTypes}})`
  );
}

/** The columns of the history view, given the columns the live files have (none for an empty lake). */
export function viewColumns(dataset: AnyDataset, inFiles: readonly ViewColumn[]): ViewColumn[] {
  const declared = dataset.columns.map((c) => ({ name: c.name, type: duckdbType(c) }));
  const reserved = new Set([...declared, ...METADATA_COLUMNS, ...PARTITION_COLUMNS].map((c) => c.name));
  // Columns a newer writer added that this declaration does not know yet stay visible.
  const extra = inFiles.filter((c) => !reserved.has(c.name));
  return [...declared, ...extra, ...METADATA_COLUMNS, ...PARTITION_COLUMNS];
}

export function historyViewSql(
  dataset: AnyDataset,
  files: readonly string[],
  inFiles: readonly ViewColumn[],
): string {
  const present = new Set(inFiles.map((c) => c.name));
  const select = viewColumns(dataset, inFiles)
    .map((c) => {
      const value = files.length > 0 && present.has(c.name) ? quoteIdent(c.name) : 'NULL';
      return `CAST(${value} AS ${c.type}) AS ${quoteIdent(c.name)}`;
    })
    .join(', ');
  const from = files.length > 0 ? `FROM ${parquetSource(files)}` : 'WHERE false';
  return `CREATE OR REPLACE VIEW ${quoteIdent(historyViewName(dataset))} AS SELECT ${select} ${from}`;
}

/**
 * The highest position of a key wins; a key whose winner is a delete is hidden. The delete
 * filter must apply after the window picks the winner, or an older version would resurface.
 */
export function latestViewSql(dataset: AnyDataset): string {
  const key = dataset.primaryKey.map(quoteIdent).join(', ');
  return (
    `CREATE OR REPLACE VIEW ${quoteIdent(latestViewName(dataset))} AS ` +
    `SELECT * FROM (SELECT * FROM ${quoteIdent(historyViewName(dataset))} ` +
    `QUALIFY row_number() OVER (PARTITION BY ${key} ORDER BY "_position" DESC) = 1) ` +
    `WHERE "_op" IS DISTINCT FROM 'd'`
  );
}

/** What DuckDB is asked for the columns of the live files. */
export function describeSourceSql(files: readonly string[]): string {
  return `DESCRIBE SELECT * FROM ${parquetSource(files)}`;
}
