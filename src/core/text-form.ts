import type { ColumnDef } from './dataset.ts';

/**
 * The text form of a normalised value: what PostgreSQL's COPY and array literals take, and what
 * the event wire format (version 2) carries. Every kind's normalised value turns into text that
 * PostgreSQL parses back to the same value: bool as t/f, json as JSON, a float's negative zero
 * as -0, bigint and number in decimal, and the text kinds (decimal, timestamp, date) as they are.
 */
export function textForm(col: Pick<ColumnDef, 'kind'> | undefined): (value: unknown) => string {
  switch (col?.kind) {
    case 'json':
      return (v) => JSON.stringify(v);
    case 'bool':
      return (v) => (v ? 't' : 'f');
    case 'float64':
      return (v) => (Object.is(v, -0) ? '-0' : String(v));
    default:
      return (v) => String(v);
  }
}
