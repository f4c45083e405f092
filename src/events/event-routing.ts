import type { Dataset } from '../core/index.ts';
import { partitionOf } from '../log/partitioner.ts';
import type { DataWrittenEvent } from './data-written-event.ts';
import { decodeEvent, encodeEvent } from './data-written-event.ts';

/**
 * On an event topic of several partitions, a row goes to the partition of its key: its dataset
 * and primary key. Every change of one record then lives in one partition, in order, and the
 * lake's newest-version-per-key rule holds within that partition's scope; the rows of one dataset
 * spread over every partition, so the cold side scales past one consumer per dataset.
 */
export function rowKey(dataset: Dataset<unknown, unknown>, row: Record<string, unknown>): string {
  return [dataset.name, ...dataset.primaryKey.map((column) => String(row[column]))].join('|');
}

export interface RoutedRows<R> {
  partition: number;
  /** The key of its first row: it hashes to `partition`, so the entry routes there by key too. */
  key: string;
  rows: R[];
  /** The rows' indexes in the batch, in order. */
  indexes: number[];
}

/** The batch's rows grouped by partition, each group in the batch's order. */
export function routeRows<R extends Record<string, unknown>>(
  dataset: Dataset<unknown, unknown>,
  rows: readonly R[],
  partitions: number,
): RoutedRows<R>[] {
  const groups = new Map<number, RoutedRows<R>>();
  rows.forEach((row, index) => {
    const key = rowKey(dataset, row);
    const partition = partitionOf(key, partitions);
    let group = groups.get(partition);
    if (!group) groups.set(partition, (group = { partition, key, rows: [], indexes: [] }));
    group.rows.push(row);
    group.indexes.push(index);
  });
  return [...groups.values()];
}

export interface RoutedEvent {
  partition: number;
  key: string;
  rows: number;
  payload: Uint8Array;
}

/** An encoded event as one event per partition its rows go to (one, unchanged, when all go to one). */
export function routeEvent(
  payload: Uint8Array,
  datasetOf: (name: string) => Dataset<unknown, unknown>,
  partitions: number,
): RoutedEvent[] {
  const event = decodeEvent(payload, datasetOf);
  const dataset = datasetOf(event.dataset);
  const groups = routeRows(dataset, event.rows, partitions);
  if (groups.length === 1)
    return [{ partition: groups[0]!.partition, key: groups[0]!.key, rows: event.rows.length, payload }];
  return groups.map((group) => ({
    partition: group.partition,
    key: group.key,
    rows: group.rows.length,
    payload: encodeEvent(part(event, group.indexes), dataset),
  }));
}

function part(event: DataWrittenEvent, indexes: readonly number[]): DataWrittenEvent {
  return {
    ...event,
    rows: indexes.map((i) => event.rows[i]!),
    eventTimes: indexes.map((i) => event.eventTimes[i]!),
  };
}
