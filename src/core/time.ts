/**
 * Timestamps travel through tierflow as ISO-8601 UTC strings with exactly six fractional digits
 * ("2024-03-01T14:30:00.123456Z"). JavaScript's Date stops at milliseconds; PostgreSQL, Arrow and
 * Parquet keep microseconds, so a string is the one representation that loses nothing, sorts
 * lexicographically in time order and survives JSON.
 */

const TIMESTAMP_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;
const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Why a value is not a timestamp, or undefined when it is one. */
export type TimeParse = { ok: true; value: string } | { ok: false; reason: string };

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function validCalendarDay(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  return day <= (month === 2 && isLeap(year) ? 29 : DAYS_IN_MONTH[month - 1]!);
}

function formatMicros(epochMs: number, microsWithinMs: number): string {
  const iso = new Date(epochMs).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  return `${iso.slice(0, 23)}${pad(microsWithinMs, 3)}Z`;
}

const digitAt = (s: string, i: number): number => s.charCodeAt(i) - 48;
const twoDigits = (s: string, i: number): number => {
  const a = digitAt(s, i);
  const b = digitAt(s, i + 1);
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
};

/**
 * The common shapes, without a regular expression or a Date: the normal form itself
 * ("…SS.ffffffZ", returned as is) and Date#toISOString's ("…SS.mmmZ"). Anything else, or an
 * invalid field, returns undefined and takes the general path, which explains the problem.
 */
function fastTimestamp(s: string): string | undefined {
  const len = s.length;
  if ((len !== 27 && len !== 24) || s.charCodeAt(len - 1) !== 90 /* Z */) return undefined;
  if (s[4] !== '-' || s[7] !== '-' || s[10] !== 'T' || s[13] !== ':' || s[16] !== ':' || s[19] !== '.')
    return undefined;
  const century = twoDigits(s, 0);
  const yy = twoDigits(s, 2);
  const month = twoDigits(s, 5);
  const day = twoDigits(s, 8);
  const hour = twoDigits(s, 11);
  const minute = twoDigits(s, 14);
  const second = twoDigits(s, 17);
  if (
    century < 0 ||
    yy < 0 ||
    hour < 0 ||
    hour > 23 ||
    minute < 0 ||
    minute > 59 ||
    second < 0 ||
    second > 59
  )
    return undefined;
  const year = century * 100 + yy;
  if (year < 1 || !validCalendarDay(year, month, day)) return undefined;
  for (let i = 20; i < len - 1; i++) {
    const d = digitAt(s, i);
    if (d < 0 || d > 9) return undefined;
  }
  return len === 27 ? s : `${s.slice(0, 23)}000Z`;
}

export function parseTimestamp(value: unknown): TimeParse {
  if (typeof value === 'string') {
    const fast = fastTimestamp(value);
    if (fast !== undefined) return { ok: true, value: fast };
  }
  if (value instanceof Date) {
    const ms = value.getTime();
    if (!Number.isFinite(ms)) return { ok: false, reason: 'is an invalid Date' };
    return checkRange(ms, 0);
  }
  if (typeof value !== 'string') return { ok: false, reason: `expected a timestamp, got ${describe(value)}` };
  const m = TIMESTAMP_PATTERN.exec(value.trim());
  if (!m) return { ok: false, reason: `"${truncate(value)}" is not an ISO-8601 timestamp` };
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone = 'Z'] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (!validCalendarDay(year, month, day)) return { ok: false, reason: `"${value}" is not a calendar date` };
  if (hour > 23 || minute > 59 || second > 59)
    return { ok: false, reason: `"${value}" has an invalid time of day` };
  if (frac.length > 6 && /[1-9]/.test(frac.slice(6))) {
    return { ok: false, reason: `"${value}" has sub-microsecond precision, which would be lost` };
  }
  if (year < 1) return { ok: false, reason: 'is outside the years 0001–9999' };
  const frac6 = frac.length === 6 ? frac : frac.slice(0, 6).padEnd(6, '0');
  if (zone === 'Z' || zone === 'z' || /^[+-]00(:?00)?$/.test(zone)) {
    // Already UTC: the normal form is the parts themselves, no arithmetic needed.
    return {
      ok: true,
      value: `${y}-${mo}-${d}T${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}.${frac6}Z`,
    };
  }
  const micros = Number(frac6);
  let offsetMinutes = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2) || '0');
    if (oh > 15 || om > 59) return { ok: false, reason: `"${value}" has an invalid UTC offset` };
    offsetMinutes = sign * (oh * 60 + om);
  }
  const base = Date.UTC(year, month - 1, day, hour, minute, second);
  // Date.UTC maps years 0–99 to 1900–1999; setUTCFullYear undoes that.
  const fixed = new Date(base);
  fixed.setUTCFullYear(year);
  const ms = fixed.getTime() + Math.floor(micros / 1000) - offsetMinutes * 60_000;
  return checkRange(ms, micros % 1000);
}

const MIN_YEAR_MS = (() => {
  const d = new Date(0);
  d.setUTCFullYear(1, 0, 1);
  d.setUTCHours(0, 0, 0, 0);
  return d.getTime();
})();
const MAX_YEAR_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

function checkRange(ms: number, microsWithinMs: number): TimeParse {
  if (ms < MIN_YEAR_MS || ms > MAX_YEAR_MS) return { ok: false, reason: 'is outside the years 0001–9999' };
  return { ok: true, value: formatMicros(ms, microsWithinMs) };
}

export function parseDate(value: unknown): TimeParse {
  if (value instanceof Date) {
    if (!Number.isFinite(value.getTime())) return { ok: false, reason: 'is an invalid Date' };
    return { ok: true, value: value.toISOString().slice(0, 10) };
  }
  if (typeof value !== 'string') return { ok: false, reason: `expected a date, got ${describe(value)}` };
  const m = DATE_PATTERN.exec(value.trim());
  if (!m) return { ok: false, reason: `"${truncate(value)}" is not a YYYY-MM-DD date` };
  const [, y, mo, d] = m;
  const year = Number(y);
  if (year < 1 || !validCalendarDay(year, Number(mo), Number(d))) {
    return { ok: false, reason: `"${value}" is not a calendar date` };
  }
  return { ok: true, value: value.trim() };
}

/** Microseconds since the Unix epoch of a normalised timestamp string. */
export function timestampToMicros(ts: string): bigint {
  const ms = Date.parse(ts.slice(0, 23) + 'Z');
  return BigInt(ms) * 1000n + BigInt(Number(ts.slice(23, 26)));
}

export function microsToTimestamp(micros: bigint): string {
  const ms = micros >= 0n ? micros / 1000n : (micros - 999n) / 1000n;
  return formatMicros(Number(ms), Number(micros - ms * 1000n));
}

/** Converts PostgreSQL's timestamptz text output (session time zone UTC) to the normalised form. */
export function fromPostgresTimestamp(text: string): string {
  // "2024-03-01 14:30:00.1234+00" or "2024-03-01 14:30:00+00"
  const [datePart = '', rest = ''] = text.split(' ');
  const time = rest.replace(/[+-]\d{2}(:?\d{2})?$/, '');
  const [hms = '', frac = ''] = time.split('.');
  return `${datePart}T${hms}.${frac.padEnd(6, '0')}Z`;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'number' && Number.isNaN(value)) return 'NaN';
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return `${typeof value} ${truncate(String(value))}`;
}

function truncate(s: string): string {
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}
