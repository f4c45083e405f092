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

function validCalendarDay(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return day <= daysInMonth;
}

function formatMicros(epochMs: number, microsWithinMs: number): string {
  const iso = new Date(epochMs).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  return `${iso.slice(0, 23)}${pad(microsWithinMs, 3)}Z`;
}

export function parseTimestamp(value: unknown): TimeParse {
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
  const micros = Number(frac.slice(0, 6).padEnd(6, '0'));
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
