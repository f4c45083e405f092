import type { Position } from '../log.ts';

/**
 * Positions are JetStream stream sequences. The client library carries sequences as JavaScript
 * numbers, so a position is exact up to 2^53 − 1 (enough for a million entries a second for
 * 285 years); beyond that a position is refused rather than rounded.
 */
export function sequenceOf(position: Position): number {
  if (position < 0n || position > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`position ${position} is outside the stream sequences NATS can address`);
  }
  return Number(position);
}

export function positionOf(sequence: number): Position {
  return BigInt(sequence);
}
