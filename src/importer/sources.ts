import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parse } from 'csv-parse';
import { ImportError } from '../core/index.ts';

export type SourceFormat = 'csv' | 'ndjson';

export interface SourceRecord {
  /** 1-based line of the record in the file, for error messages. */
  line: number;
  fields: Record<string, unknown>;
}

export function formatOf(file: string, explicit?: string): SourceFormat {
  const format =
    explicit ?? (/\.(nd)?jsonl?$/i.test(file) ? 'ndjson' : /\.csv$/i.test(file) ? 'csv' : undefined);
  if (format !== 'csv' && format !== 'ndjson') {
    throw new ImportError(`cannot tell the format of ${file}: pass --format csv or --format ndjson`);
  }
  return format;
}

/** Streams the records of a CSV (with a header row) or NDJSON file. */
export async function* readRecords(file: string, format: SourceFormat): AsyncGenerator<SourceRecord> {
  const input = createReadStream(file);
  const opened = new Promise<void>((resolve, reject) => {
    input.once('open', () => resolve());
    input.once('error', (error) => reject(new ImportError(`cannot read ${file}: ${error.message}`, error)));
  });
  await opened;
  if (format === 'csv') {
    const parser = input.pipe(parse({ columns: true, skip_empty_lines: true, bom: true, info: true }));
    try {
      for await (const item of parser as AsyncIterable<{
        record: Record<string, string>;
        info: { lines: number };
      }>) {
        yield { line: item.info.lines, fields: item.record };
      }
    } catch (error) {
      throw new ImportError(`${file}: ${(error as Error).message}`, error);
    }
    return;
  }
  const lines = createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line++;
    if (text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new ImportError(`${file}:${line}: not valid JSON (${(error as Error).message})`, error);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ImportError(`${file}:${line}: expected a JSON object per line`);
    }
    yield { line, fields: value as Record<string, unknown> };
  }
}

/** The field names of a source: the CSV header, or the union of keys of the first NDJSON records. */
export async function fieldNames(file: string, format: SourceFormat): Promise<string[]> {
  const names = new Set<string>();
  let seen = 0;
  for await (const record of readRecords(file, format)) {
    for (const key of Object.keys(record.fields)) names.add(key);
    if (format === 'csv' || ++seen >= 1000) break;
  }
  return [...names];
}
