import type { MetricCall } from '../observe/recorded-metrics.ts';
import type { EventToWrite } from './event-sink.ts';
import { RejectedEntryError } from '../events/rejected-entry.ts';

/** Messages between WorkerEventSink (the consumer's thread) and lake-sink-worker.ts. */
export interface LakeSinkWorkerData {
  lakeRoot: string;
  /** The log topic feeding the lake (its run: position-map.ts). */
  topic: string;
  replay: boolean;
  /** The lake scope: the source partition of a topic of several (lake/scope.ts); 0 otherwise. */
  partition: number;
}

export type ToWorker = { type: 'write'; id: number; events: EventToWrite[] } | { type: 'close'; id: number };

export interface SerialisedError {
  name: string;
  message: string;
  code?: string;
  retriable?: boolean;
  stack?: string;
  /** A RejectedEntryError's entry and reason, so the consumer can dead-letter it. */
  rejected?: { position: string; reasonCode: string };
}

export type FromWorker =
  | { type: 'ready'; metrics: MetricCall[] }
  | { type: 'open-failed'; error: SerialisedError }
  | { type: 'done'; id: number; metrics: MetricCall[] }
  | { type: 'failed'; id: number; error: SerialisedError; metrics: MetricCall[] };

export function serialiseError(error: unknown): SerialisedError {
  const rejected =
    error instanceof RejectedEntryError
      ? { rejected: { position: error.position.toString(), reasonCode: error.reasonCode } }
      : {};
  const e = error as { name?: string; message?: string; code?: string; retriable?: boolean; stack?: string };
  return {
    name: e?.name ?? 'Error',
    message: e?.message ?? String(error),
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
    ...(typeof e?.retriable === 'boolean' ? { retriable: e.retriable } : {}),
    ...(e?.stack ? { stack: e.stack } : {}),
    ...rejected,
  };
}
