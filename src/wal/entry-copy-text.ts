import type { Dataset } from '../core/index.ts';
import { needsQuoting } from '../hot/encode.ts';
import type { Position } from '../log/log.ts';
import type { ColumnarLayout } from '../events/event-columnar.ts';
import { opFromWire } from '../events/wire-op.ts';
import { ColumnarFormatError } from '../events/event-columnar.ts';
import { rowSequence } from './wal-entry.ts';

const NUL = 0x00;
const TAB = 0x09;
const NEWLINE = 0x0a;
const RETURN = 0x0d;
const BACKSLASH = 0x5c;
const NULL_FIELD = [BACKSLASH, 0x4e]; // \N
/** The escape letter after a backslash, by byte; 0 where the byte needs none. */
const ESCAPE = new Uint8Array(256);
ESCAPE[BACKSLASH] = BACKSLASH;
ESCAPE[TAB] = 0x74; // t
ESCAPE[NEWLINE] = 0x6e; // n
ESCAPE[RETURN] = 0x72; // r

/**
 * The COPY text of a WAL entry's rows (its dataset's columns in order, then each row's sequence),
 * built byte by byte from the entry's column blocks (wire format version 2) without decoding a
 * value: the text forms on the wire are the ones COPY takes (core/text-form.ts), so a value is
 * copied, with COPY's escapes for the text kinds, and a null becomes \N. The hot processor streams
 * this into COPY on its fast path; it yields undefined where that path does not apply (deletes, or
 * columns other than the dataset's, in its order), and the entry is decoded.
 */
export function entryCopyText(
  payload: Uint8Array,
  layout: ColumnarLayout,
  dataset: Dataset<unknown, unknown>,
  position: Position,
): Uint8Array | undefined {
  const { header, nulls, blocks } = layout;
  if (opFromWire(header.op) === 'd') return undefined;
  const columns = dataset.columns;
  if (header.columns.length !== columns.length || header.columns.some((name, c) => name !== columns[c]!.name))
    return undefined;
  const count = header.count;
  if (count === 0) return new Uint8Array(0);
  // Where each value starts in its block; the value ends one byte before the next one starts.
  const starts = blocks.map(([start, end], c) => {
    const at = new Int32Array(count + 1);
    at[0] = start;
    let n = 1;
    for (let p = start; p < end; p++) {
      if (payload[p] === NUL) {
        if (n === count)
          throw new ColumnarFormatError(`column "${header.columns[c]}" has more values than ${count}`);
        at[n++] = p + 1;
      }
    }
    if (n !== count)
      throw new ColumnarFormatError(
        `column "${header.columns[c]}" has ${n} values, the header says ${count}`,
      );
    at[count] = end + 1;
    return at;
  });
  const isNull = header.columns.map((name) => {
    const rows = nulls.get(name);
    if (!rows) return undefined;
    const marks = new Uint8Array(count);
    for (const i of rows) marks[i] = 1;
    return marks;
  });
  const escaped = columns.map((col) => needsQuoting(col));

  // Every byte of the values, a separator per field, a sequence per row; escapes grow it as needed.
  let out = Buffer.allocUnsafe(
    blocks.reduce((sum, [start, end]) => sum + end - start, 0) + count * (columns.length + 24),
  );
  let w = 0;
  const room = (bytes: number) => {
    if (w + bytes <= out.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, w + bytes));
    out.copy(bigger, 0, 0, w);
    out = bigger;
  };
  const base = rowSequence(position, 0);
  const small = base + BigInt(count) <= BigInt(Number.MAX_SAFE_INTEGER);
  const baseNumber = Number(base);
  for (let i = 0; i < count; i++) {
    for (let c = 0; c < columns.length; c++) {
      if (isNull[c]?.[i]) {
        room(3);
        out[w++] = NULL_FIELD[0]!;
        out[w++] = NULL_FIELD[1]!;
      } else {
        const at = starts[c]!;
        const from = at[i]!;
        const to = at[i + 1]! - 1;
        if (escaped[c]) {
          room((to - from) * 2 + 1);
          for (let p = from; p < to; p++) {
            const byte = payload[p]!;
            const letter = ESCAPE[byte]!;
            if (letter === 0) out[w++] = byte;
            else {
              out[w++] = BACKSLASH;
              out[w++] = letter;
            }
          }
        } else {
          room(to - from + 1);
          for (let p = from; p < to; p++) out[w++] = payload[p]!;
        }
      }
      out[w++] = TAB;
    }
    const sequence = small ? String(baseNumber + i) : String(base + BigInt(i));
    room(sequence.length + 1);
    for (let k = 0; k < sequence.length; k++) out[w++] = sequence.charCodeAt(k);
    out[w++] = NEWLINE;
  }
  return out.subarray(0, w);
}
