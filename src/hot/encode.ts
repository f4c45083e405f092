import type { ColumnDef } from '../core/index.ts';
import { textForm } from '../core/index.ts';

/**
 * Text encodings of normalised values, for PostgreSQL array literals and COPY text format.
 * Values have passed the validator, so each encoder can trust its input's type.
 */
type ToText = (value: unknown) => string;

/** Kinds whose text can contain characters that array literals must quote. */
export function needsQuoting(col: ColumnDef): boolean {
  return col.kind === 'text' || col.kind === 'json';
}

const ARRAY_SPECIAL = /[\\"]/g;

/** `{a,"b c",NULL}`: the array literal of one column of a batch. */
export function arrayLiteral(col: ColumnDef, values: readonly unknown[]): string {
  const toText = textForm(col);
  const quote = needsQuoting(col);
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) parts[i] = 'NULL';
    else if (quote) parts[i] = `"${toText(v).replace(ARRAY_SPECIAL, '\\$&')}"`;
    else parts[i] = toText(v);
  }
  return `{${parts.join(',')}}`;
}

const COPY_SPECIAL = /[\\\n\r\t]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** One field of COPY's text format. */
export function copyField(toText: ToText, quote: boolean, value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  const text = toText(value);
  return quote ? text.replace(COPY_SPECIAL, (c) => COPY_ESCAPES[c]!) : text;
}

export function copyEncoder(col: ColumnDef): (value: unknown) => string {
  const toText = textForm(col);
  const quote = needsQuoting(col);
  return (value) => copyField(toText, quote, value);
}
