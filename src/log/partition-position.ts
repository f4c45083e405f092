import type { Position } from './log.ts';

/**
 * A position on a topic of several partitions (Kafka) packs the partition above a 48-bit offset:
 * position = partition × 2^48 + offset. Partition 0's positions are its offsets, so a
 * one-partition topic numbers its entries exactly as the other backends do (0, 1, 2, …).
 * Positions are ordered within a partition; across partitions only the partition order they sort
 * in means anything. The cold side numbers a partition's lake scope by the offset alone.
 */
export const OFFSET_BITS = 48n;
const OFFSET_MASK = (1n << OFFSET_BITS) - 1n;

export function positionOf(partition: number, offset: bigint): Position {
  return (BigInt(partition) << OFFSET_BITS) | offset;
}

export function partitionOfPosition(position: Position): number {
  return Number(position >> OFFSET_BITS);
}

export function offsetOf(position: Position): bigint {
  return position & OFFSET_MASK;
}
