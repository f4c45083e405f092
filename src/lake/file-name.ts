import { parseScopeDigits, scopeSuffix } from './scope.ts';

/**
 * A lake file is named after the position range of its rows, so writing the same range again
 * (after a crash, before the manifest commit) produces the same name and replaces the file
 * instead of adding a duplicate: exactly-once files. A scope p > 0 (a source partition, scope.ts)
 * puts `+p<p>` after the dataset, as Confluent's S3 sink puts the partition in its names:
 * `<dataset>+p<p>+<first>+<last>.parquet`, its positions being that partition's own.
 */
export function lakeFileName(dataset: string, first: bigint, last: bigint, partition = 0): string {
  return `${dataset}${scopeSuffix(partition)}+${pad(first)}+${pad(last)}.parquet`;
}

export interface LakeFileNameParts {
  dataset: string;
  /** The scope (source partition); 0 for a name without `+p<p>`, as every name before scopes. */
  partition: number;
  first: bigint;
  last: bigint;
}

const NAME = /^([a-z][a-z0-9_]*)(?:\+p(\d+))?\+(\d{20})\+(\d{20})\.parquet$/;

export function parseLakeFileName(name: string): LakeFileNameParts | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  const partition = parseScopeDigits(m[2]);
  if (partition === undefined) return undefined;
  return { dataset: m[1]!, partition, first: BigInt(m[3]!), last: BigInt(m[4]!) };
}

/**
 * The scope of a file in a dataset's directory that a writer may have left behind: a Parquet
 * file, or the temporary file one is written under (`.<name>.<hex>.tmp`). Undefined for a name
 * that is neither.
 */
export function scopeOfLakeFile(basename: string): number | undefined {
  const temp = /^\.(.+\.parquet)\.[0-9a-f]+\.tmp$/.exec(basename);
  return parseLakeFileName(temp ? temp[1]! : basename)?.partition;
}

const pad = (n: bigint) => String(n).padStart(20, '0');
