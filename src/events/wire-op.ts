import type { ChangeOp } from '../core/index.ts';
import { EventDecodeError } from './event-errors.ts';

/**
 * The operation's word on the wire. Events carry words ('upsert', 'delete') since version 1, and
 * logs keep entries for weeks, so the words stay; inside tierflow an operation is a `ChangeOp`.
 * 'insert' and 'update' were written by no version so far but were always accepted.
 */
const TO_WIRE: Record<ChangeOp, string> = { c: 'insert', u: 'upsert', d: 'delete', r: 'read' };
const FROM_WIRE: ReadonlyMap<string, ChangeOp> = new Map<string, ChangeOp>([
  ['insert', 'c'],
  ['update', 'u'],
  ['upsert', 'u'],
  ['delete', 'd'],
  ['read', 'r'],
]);

export function opToWire(op: ChangeOp): string {
  return TO_WIRE[op];
}

/** The operation of a wire word; an EventDecodeError for anything else. */
export function opFromWire(word: unknown): ChangeOp {
  const op = typeof word === 'string' ? FROM_WIRE.get(word) : undefined;
  if (op === undefined)
    throw new EventDecodeError(`a data-written event has an unknown operation "${String(word)}"`);
  return op;
}
