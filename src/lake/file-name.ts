/**
 * A lake file is named after the position range of its rows, so writing the same range again
 * (after a crash, before the manifest commit) produces the same name and replaces the file
 * instead of adding a duplicate: exactly-once files.
 */
export function lakeFileName(dataset: string, first: bigint, last: bigint): string {
  return `${dataset}+${pad(first)}+${pad(last)}.parquet`;
}

export function parseLakeFileName(
  name: string,
): { dataset: string; first: bigint; last: bigint } | undefined {
  const m = /^([a-z][a-z0-9_]*)\+(\d{20})\+(\d{20})\.parquet$/.exec(name);
  return m ? { dataset: m[1]!, first: BigInt(m[2]!), last: BigInt(m[3]!) } : undefined;
}

const pad = (n: bigint) => String(n).padStart(20, '0');
