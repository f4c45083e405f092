import { ConfigError } from '../core/index.ts';

/**
 * A lake is written by one writer per **scope**: scope 0 is the lake's original writer (a topic of
 * one partition, or partition 0 of a partitioned one), scope p > 0 the writer of source partition
 * p. Each scope has its own lock, manifest per dataset, file names and position runs, all marked
 * with the same suffix: none for scope 0, so a lake written before scopes existed keeps every name
 * it has, and `+p<p>` for the others (`LOCK+p3`, `_manifest+p3.json`, `_positions+p3.json`,
 * `market_data+p3+<first>+<last>.parquet`). Dataset names never hold `+`, and a position is 20
 * digits, so no scoped name reads as another scope's or as scope 0's.
 */
export const MAX_SCOPE = 2 ** 31 - 1; // Kafka numbers partitions with a signed 32-bit integer

/** The partition, checked: undefined is scope 0. */
export function scopeOf(partition: number | undefined): number {
  const p = partition ?? 0;
  if (!Number.isSafeInteger(p) || p < 0 || p > MAX_SCOPE)
    throw new ConfigError(
      `lake scope (source partition) must be an integer from 0 to ${MAX_SCOPE}, not ${p}`,
    );
  return p;
}

/** '' for scope 0, `+p<p>` otherwise. */
export function scopeSuffix(partition: number): string {
  return partition === 0 ? '' : `+p${partition}`;
}

/** The decimal digits of a `+p<p>` suffix (no leading zero), as a scope; undefined when not one. */
export function parseScopeDigits(digits: string | undefined): number | undefined {
  if (digits === undefined) return 0;
  if (!/^[1-9]\d{0,9}$/.test(digits)) return undefined;
  const p = Number(digits);
  return p <= MAX_SCOPE ? p : undefined;
}

/** The scope's lock file at the lake root. */
export function lockFileName(partition: number): string {
  return `LOCK${scopeSuffix(partition)}`;
}

/** The scope's position runs at the lake root (position-map.ts). */
export function runsFileName(partition: number): string {
  return `_positions${scopeSuffix(partition)}.json`;
}
