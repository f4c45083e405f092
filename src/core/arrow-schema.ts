import {
  Bool,
  DateDay,
  Decimal,
  Field,
  Float64,
  Int32,
  Int64,
  Schema,
  TimeUnit,
  Timestamp,
  Utf8,
} from 'apache-arrow';
import type { DataType } from 'apache-arrow';
import type { ColumnDef, Dataset } from './dataset.ts';
import { describeDataset } from './dataset.ts';

/** The Arrow type of a column; json is stored as UTF-8 text tagged with its extension name. */
export function arrowType(col: ColumnDef): DataType {
  switch (col.kind) {
    case 'text':
    case 'json':
      return new Utf8();
    case 'int32':
      return new Int32();
    case 'int64':
      return new Int64();
    case 'float64':
      return new Float64();
    case 'decimal':
      return new Decimal(col.scale ?? 0, col.precision ?? 38, 128);
    case 'bool':
      return new Bool();
    case 'timestamp':
      return new Timestamp(TimeUnit.MICROSECOND, 'UTC');
    case 'date':
      return new DateDay();
  }
}

/** The Arrow schema of a dataset's columns, with the dataset's identity in the metadata. */
export function arrowSchema(dataset: Dataset<unknown>): Schema {
  const fields = dataset.columns.map((col) => {
    const metadata = new Map<string, string>();
    if (col.kind === 'json') metadata.set('ARROW:extension:name', 'arrow.json');
    if (dataset.primaryKey.includes(col.name)) metadata.set('tierflow:primary_key', 'true');
    return new Field(col.name, arrowType(col), col.nullable, metadata);
  });
  const description = describeDataset(dataset);
  const metadata = new Map([
    ['tierflow:dataset', dataset.name],
    ['tierflow:version', String(dataset.version)],
    ['tierflow:event_time', dataset.eventTime],
    ['tierflow:fingerprint', description.fingerprint],
  ]);
  return new Schema(fields, metadata);
}
