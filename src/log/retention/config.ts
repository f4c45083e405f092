import { ConfigError } from '../../core/index.ts';
import { parseBytes, parseDuration } from './parse.ts';

/** What retention keeps, and how often it runs; `undefined` means no limit of that kind. */
export interface RetentionSettings {
  maxAgeMs: number | undefined;
  maxBytes: number | undefined;
  intervalMs: number;
}

/**
 * Seven days: long enough for a consumer that fell over on a Friday to be mended after the
 * weekend and still find its entries, short enough that a busy log does not fill a disk over
 * months. Retention never drops what a consumer group has not committed, so the age only
 * decides when entries every consumer has finished with go.
 */
export const DEFAULT_RETENTION_AGE_MS = 7 * 86_400_000;
export const DEFAULT_RETENTION_INTERVAL_MS = 5 * 60_000;
/** Retention passes closer than this would spend the log's time on scans that find nothing new. */
const MIN_INTERVAL_MS = 1000;

const OFF = new Set(['off', 'none', 'unlimited']);

export const RETENTION_ENV = {
  age: 'TIERFLOW_RETENTION_AGE',
  bytes: 'TIERFLOW_RETENTION_BYTES',
  interval: 'TIERFLOW_RETENTION_INTERVAL',
} as const;

/**
 * The retention settings from the environment:
 * - TIERFLOW_RETENTION_AGE: drop entries older than this (`7d`, `12h`); `off` keeps them for
 *   ever. Default 7d.
 * - TIERFLOW_RETENTION_BYTES: drop the oldest entries while a topic is larger than this
 *   (`10GiB`); `off` or unset: no size limit. There is no size default: how much disk a log may
 *   take depends on the machine, and a guessed limit would drop entries sooner than the age says.
 * - TIERFLOW_RETENTION_INTERVAL: how often a pass runs. Default 5m.
 * A value that does not parse throws ConfigError naming the variable.
 */
export function resolveRetention(env: Readonly<Record<string, string | undefined>>): RetentionSettings {
  const read = (name: string) => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const age = read(RETENTION_ENV.age);
  const bytes = read(RETENTION_ENV.bytes);
  const interval = read(RETENTION_ENV.interval);
  const maxAgeMs =
    age === undefined ? DEFAULT_RETENTION_AGE_MS : limit(age, RETENTION_ENV.age, parseDuration);
  const maxBytes = bytes === undefined ? undefined : limit(bytes, RETENTION_ENV.bytes, parseBytes);
  const intervalMs =
    interval === undefined ? DEFAULT_RETENTION_INTERVAL_MS : parseDuration(interval, RETENTION_ENV.interval);
  if (intervalMs < MIN_INTERVAL_MS)
    throw new ConfigError(`${RETENTION_ENV.interval} is "${interval}"; it must be at least 1s`);
  return { maxAgeMs, maxBytes, intervalMs };
}

/** `off` or a positive amount: a limit of 0 would drop every committed entry on every pass. */
function limit(
  value: string,
  name: string,
  parse: (text: string, what: string) => number,
): number | undefined {
  if (OFF.has(value.toLowerCase())) return undefined;
  const parsed = parse(value, name);
  if (parsed <= 0) throw new ConfigError(`${name} is "${value}"; use a positive amount, or off for no limit`);
  return parsed;
}
