import type { ColumnDef } from '../core/index.ts';

const NUMBER_TEXT = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$|^\s*[+-]?(NaN|Infinity)\s*$/;
const TRUE = new Set(['true', 't', '1', 'yes', 'y']);
const FALSE = new Set(['false', 'f', '0', 'no', 'n']);

export type Coerced = { ok: true; value: unknown } | { ok: false; reason: string };

/**
 * Turns the text of a CSV cell (or a string in NDJSON) into the value its column expects, so
 * the dataset's validator can judge it. An empty cell is null.
 */
export function coerceText(col: ColumnDef, raw: unknown): Coerced {
  if (typeof raw !== 'string') return { ok: true, value: raw };
  if (raw === '' && col.kind !== 'text') return { ok: true, value: null };
  switch (col.kind) {
    case 'int32':
    case 'float64':
      return { ok: true, value: NUMBER_TEXT.test(raw) ? Number(raw) : raw };
    case 'bool': {
      const lower = raw.trim().toLowerCase();
      if (TRUE.has(lower)) return { ok: true, value: true };
      if (FALSE.has(lower)) return { ok: true, value: false };
      return { ok: false, reason: `"${raw}" is not a boolean` };
    }
    case 'json':
      try {
        return { ok: true, value: JSON.parse(raw) };
      } catch {
        return { ok: false, reason: `is not valid JSON` };
      }
    default:
      return { ok: true, value: raw };
  }
}
