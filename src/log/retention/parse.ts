import { ConfigError } from '../../core/index.ts';

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const BYTE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/**
 * A duration such as `7d`, `12h`, `90m`, `1h30m` or `500ms`, in milliseconds: one or more
 * number-and-unit parts (units ms, s, m, h, d, w), nothing else. `what` names the setting in
 * the error, so an operator sees which variable to fix.
 */
export function parseDuration(text: string, what: string): number {
  const trimmed = text.trim();
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let matched = 0;
  for (let m = part.exec(trimmed); m !== null; m = part.exec(trimmed)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    matched = part.lastIndex;
  }
  if (trimmed.length === 0 || matched !== trimmed.length || !Number.isFinite(total)) {
    throw new ConfigError(
      `${what} is "${text}", not a duration (a number and a unit, ms s m h d w, such as 7d, 12h or 1h30m)`,
    );
  }
  return Math.round(total);
}

/**
 * A size such as `10GiB`, `500MB`, `1.5TiB` or `4096`, in bytes: powers of 1024 for KiB, MiB,
 * GiB and TiB, of 1000 for KB, MB, GB and TB, bytes for a bare number or B. Case-insensitive.
 */
export function parseBytes(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = BYTE_UNITS[(m?.[2] || 'b').toLowerCase()];
  if (!m || unit === undefined) {
    throw new ConfigError(
      `${what} is "${text}", not a size (a number and an optional unit, B KB MB GB TB KiB MiB GiB TiB, such as 10GiB)`,
    );
  }
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes))
    throw new ConfigError(`${what} is "${text}", more bytes than can be counted`);
  return bytes;
}
