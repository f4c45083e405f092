import type { Dataset } from '../core/index.ts';
import { ValidationError, validatorFor } from '../core/index.ts';
import type { Repository } from '../hot/repository.ts';
import { coerceText } from './coerce.ts';
import type { ColumnMapping } from './mapping.ts';
import { bindFields } from './mapping.ts';
import type { SourceFormat, SourceRecord } from './sources.ts';
import { fieldNames, readRecords } from './sources.ts';

export interface ImportOptions {
  file: string;
  format: SourceFormat;
  mapping: ColumnMapping;
  batchSize?: number;
  /** Validate only; write nothing. */
  dryRun?: boolean;
  onProgress?: (records: number) => void;
}

export interface ImportSummary {
  records: number;
  applied: number;
  ignoredFields: string[];
}

type AnyDataset = Dataset<unknown, unknown>;

/**
 * Imports a file in two passes: the first validates every record (nothing is written if one is
 * bad; the error names its line and field), the second writes in batches through the repository.
 * Memory stays bounded by one batch. Re-importing the same file changes nothing: rows are
 * upserted by primary key and identical rows are not rewritten.
 */
export async function importFile(
  repository: Repository<Record<string, unknown>, Record<string, unknown>>,
  options: ImportOptions,
): Promise<ImportSummary> {
  const dataset = repository.dataset as AnyDataset;
  const batchSize = options.batchSize ?? 5_000;
  const ignoredFields = bindFields(dataset, options.mapping, await fieldNames(options.file, options.format));
  const validate = validatorFor(dataset);

  let records = 0;
  for await (const batch of batches(dataset, options, batchSize)) {
    checkBatch(dataset, batch, validate);
    records += batch.rows.length;
  }
  if (options.dryRun) return { records, applied: 0, ignoredFields };

  let applied = 0;
  let written = 0;
  for await (const batch of batches(dataset, options, batchSize)) {
    const result = await repository.upsert(batch.rows);
    applied += result.applied;
    written += batch.rows.length;
    options.onProgress?.(written);
  }
  return { records, applied, ignoredFields };
}

interface Batch {
  rows: Record<string, unknown>[];
  lines: number[];
}

function checkBatch(
  dataset: AnyDataset,
  batch: Batch,
  validate: (rows: readonly unknown[]) => unknown[],
): void {
  try {
    validate(batch.rows);
  } catch (error) {
    if (error instanceof ValidationError) {
      // Re-anchor the error on the file's line rather than the batch's row index.
      const line = batch.lines[error.rowIndex]!;
      throw new ValidationError(
        dataset.name,
        line,
        error.field,
        `${error.reason} (line ${line} of the file)`,
      );
    }
    throw error;
  }
}

async function* batches(dataset: AnyDataset, options: ImportOptions, size: number): AsyncGenerator<Batch> {
  let batch: Batch = { rows: [], lines: [] };
  for await (const record of readRecords(options.file, options.format)) {
    batch.rows.push(toRow(dataset, options.mapping, record));
    batch.lines.push(record.line);
    if (batch.rows.length >= size) {
      yield batch;
      batch = { rows: [], lines: [] };
    }
  }
  if (batch.rows.length > 0) yield batch;
}

function toRow(dataset: AnyDataset, mapping: ColumnMapping, record: SourceRecord): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const col of dataset.columns) {
    const source = mapping.fromSource.get(col.name);
    const raw = source !== undefined ? record.fields[source] : mapping.constants.get(col.name);
    if (raw === undefined) continue;
    const coerced = coerceText(col, raw);
    if (!coerced.ok) {
      throw new ValidationError(
        dataset.name,
        record.line,
        col.name,
        `${coerced.reason} (line ${record.line} of the file)`,
      );
    }
    row[col.name] = coerced.value;
  }
  return row;
}
