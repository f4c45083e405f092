import path from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../../core/index.ts';
import { allDatasets, findDataset } from '../../datasets/index.ts';
import type { LakeResult } from '../../lake/duckdb-lake.ts';
import { openLakeQuery } from '../../lake/duckdb-lake.ts';
import type { LakeValue } from '../../lake/duckdb-values.ts';
import { lakeValueToJson } from '../../lake/duckdb-values.ts';
import type { Manifest } from '../../lake/manifest.ts';
import { readAllManifests } from '../../lake/manifest.ts';
import { resolveConfig } from '../../tierflow.ts';
import { configFrom, globalOptions } from '../context.ts';
import { renderTable } from '../table.ts';

/** --lake, else $TIERFLOW_LAKE, else `lake` under the data directory. */
export function lakeRoot(command: Command): string {
  const options = command.optsWithGlobals<{ lake?: string }>();
  return (
    options.lake ??
    (process.env.TIERFLOW_LAKE || undefined) ??
    path.join(resolveConfig(configFrom(globalOptions(command))).dataDir, 'lake')
  );
}

const FORMATS = ['table', 'csv', 'json'] as const;
type Format = (typeof FORMATS)[number];

/** Adds `tierflow lake query|ls`; returns the `lake` command so more subcommands can join it. */
export function registerLake(program: Command): Command {
  const lake = program
    .command('lake')
    .description('query and inspect the Parquet lake')
    .option('--lake <dir>', 'lake root (default: $TIERFLOW_LAKE or <data dir>/lake)');

  lake
    .command('query')
    .description(
      'run SQL over the lake: <dataset> has the latest row per key, <dataset>_history every version',
    )
    .argument('<sql>', 'e.g. "SELECT symbol, count(*) FROM market_data GROUP BY symbol"')
    .option('--format <format>', 'table, csv or json (one object per line)', 'table')
    .option('--max-rows <n>', 'table format: rows to print', (v) => Number.parseInt(v, 10), 1000)
    .action(async (sql: string, options: { format: string; maxRows: number }, command: Command) => {
      const format = parseFormat(options.format);
      await using engine = await openLakeQuery(lakeRoot(command), allDatasets);
      if (format === 'table') await printTable(engine.stream(sql), options.maxRows);
      else await printLines(engine.stream(sql), format);
    });

  lake
    .command('ls')
    .description('committed datasets, or the files of one dataset, from the manifests')
    .argument('[dataset]', 'list the files of this dataset')
    .action(async (name: string | undefined, _options, command: Command) => {
      const root = lakeRoot(command);
      console.log(name === undefined ? await listDatasets(root) : await listFiles(root, name));
    });
  return lake;
}

/**
 * One line per dataset, counting the live files of every scope (source partition). The last
 * position is per scope, since each numbers by its own partition's offsets: `12` for a dataset
 * written by one writer, `12, p1:40, p2:38` when partitions 1 and 2 have scopes of their own.
 */
async function listDatasets(root: string): Promise<string> {
  const found: Manifest[][] = [];
  for (const dataset of allDatasets) {
    const scopes = (await readAllManifests(path.join(root, dataset.name), dataset.name)).filter(
      (m) => m.version > 0,
    );
    if (scopes.length > 0) found.push(scopes);
  }
  if (found.length === 0) return `no committed datasets under ${root}`;
  return renderTable(
    ['dataset', 'partitions', 'files', 'rows', 'bytes', 'last position', 'commits', 'scopes'],
    found.map((scopes) => {
      const files = scopes.flatMap((m) => m.files);
      return [
        scopes[0]!.dataset,
        new Set(files.map((f) => f.partition)).size,
        files.length,
        files.reduce((n, f) => n + f.rows, 0),
        files.reduce((n, f) => n + f.bytes, 0),
        scopes
          .map((m) => (m.partition ? `p${m.partition}:${m.lastPosition ?? ''}` : (m.lastPosition ?? '')))
          .join(', '),
        scopes.reduce((n, m) => n + m.version, 0),
        scopes.length,
      ];
    }),
  );
}

/** The live files of every scope; a scoped file's name carries its partition (`+p<p>+`). */
async function listFiles(root: string, name: string): Promise<string> {
  const dataset = findDataset(name);
  const files = (await readAllManifests(path.join(root, dataset.name), dataset.name)).flatMap((m) => m.files);
  if (files.length === 0) return `no committed files for ${dataset.name} under ${root}`;
  return renderTable(
    ['partition', 'file', 'rows', 'bytes', 'first position', 'last position', 'schema'],
    files.map((f) => [
      f.partition,
      path.basename(f.path),
      f.rows,
      f.bytes,
      f.firstPosition,
      f.lastPosition,
      f.schemaVersion,
    ]),
  );
}

function parseFormat(text: string): Format {
  const format = FORMATS.find((f) => f === text);
  if (!format) throw new ConfigError(`--format "${text}" is not one of ${FORMATS.join(', ')}`);
  return format;
}

/** A table needs every width before its first line: it holds at most maxRows rows. */
async function printTable(batches: AsyncIterable<LakeResult>, maxRows: number): Promise<void> {
  const shown: unknown[][] = [];
  let columns: readonly string[] = [];
  let total = 0;
  for await (const batch of batches) {
    columns = batch.columns;
    for (const row of batch.rows) {
      if (shown.length < maxRows) shown.push(columns.map((c) => display(row[c] ?? null)));
      total++;
    }
  }
  console.log(renderTable(columns, shown));
  const hidden = total - shown.length;
  const more = hidden > 0 ? `, ${hidden} not shown (use --format csv or json)` : '';
  console.log(`(${total} row${total === 1 ? '' : 's'}${more})`);
}

/** CSV (header first) or one JSON object per line, written batch by batch. */
async function printLines(batches: AsyncIterable<LakeResult>, format: 'csv' | 'json'): Promise<void> {
  let first = true;
  for await (const { columns, rows } of batches) {
    const lines: string[] = [];
    if (first && format === 'csv') lines.push(columns.map(csvField).join(','));
    first = false;
    for (const row of rows) {
      lines.push(
        format === 'csv'
          ? columns.map((c) => csvValue(row[c] ?? null)).join(',')
          : JSON.stringify(Object.fromEntries(columns.map((c) => [c, lakeValueToJson(row[c] ?? null)]))),
      );
    }
    if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
  }
}

/**
 * Integers stay numbers so the table right-aligns them; fractions print in full, since the
 * table's own number format rounds them; everything else prints as text.
 */
function display(value: LakeValue): unknown {
  if (typeof value === 'number') return Number.isInteger(value) ? value : String(value);
  if (value === null || typeof value === 'string') return value;
  if (typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  return JSON.stringify(lakeValueToJson(value));
}

function csvValue(value: LakeValue): string {
  if (value === null) return '';
  return csvField(typeof value === 'object' ? JSON.stringify(lakeValueToJson(value)) : String(value));
}

/** RFC 4180: quote a field holding a comma, quote or line break, doubling its quotes. */
function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
