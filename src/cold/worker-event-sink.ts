import { Worker } from 'node:worker_threads';
import { TierflowError } from '../core/index.ts';
import type { Metrics } from '../observe/metrics.ts';
import { noopMetrics } from '../observe/metrics.ts';
import { replayMetrics } from '../observe/recorded-metrics.ts';
import type { EventSink, EventToWrite } from './event-sink.ts';
import { RejectedEntryError } from '../events/rejected-entry.ts';
import type { FromWorker, LakeSinkWorkerData, SerialisedError, ToWorker } from './lake-sink-protocol.ts';

/** A lake write that failed in the worker thread, with the worker's error code and message. */
export class LakeWorkerError extends TierflowError {
  constructor(remote: SerialisedError) {
    super(remote.code ?? 'LAKE_WORKER', `lake worker: ${remote.message}`, {
      retriable: remote.retriable ?? true,
    });
    if (remote.stack) this.stack = `${this.stack}\n    --- in the lake worker ---\n${remote.stack}`;
  }
}

/** A worker's error on this side: a rejected entry stays one, so the consumer can dead-letter it. */
function remoteError(remote: SerialisedError): TierflowError {
  const error = new LakeWorkerError(remote);
  if (!remote.rejected) return error;
  const { position, reasonCode } = remote.rejected;
  return new RejectedEntryError(
    BigInt(position),
    reasonCode,
    remote.message.replace(/^log entry \d+ cannot be applied: /, ''),
    error,
  );
}

/** The worker thread died (an uncaught error, or it was terminated); the next write starts a new one. */
export class LakeWorkerLostError extends TierflowError {
  constructor(cause: unknown) {
    super('LAKE_WORKER_LOST', `the lake worker thread stopped: ${(cause as Error)?.message ?? cause}`, {
      retriable: true,
      cause,
    });
  }
}

interface Waiting {
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * An EventSink that writes to the lake from a worker thread (lake-sink-worker.ts): the decode,
 * Arrow and Parquet work of the cold path runs beside the thread that takes hot writes instead of
 * on it. Requests are answered in order, each after its lake commit; the lake writer's metrics
 * come back with the answers and are reported here. If the thread dies, waiting writes fail with
 * LakeWorkerLostError (the consumer retries them) and the next write starts a new thread.
 */
export class WorkerEventSink implements EventSink {
  private starting: Promise<Worker> | undefined;
  /** Requests waiting for an answer, per worker: a dead worker fails its own requests only. */
  private readonly waiting = new Map<Worker, Map<number, Waiting>>();
  private nextId = 0;
  private closing = false;
  private readonly metrics: Metrics;

  private constructor(
    private readonly lakeRoot: string,
    private readonly topic: string,
    private readonly options: { metrics?: Metrics; replay?: boolean; partition?: number },
  ) {
    this.metrics = options.metrics ?? noopMetrics;
  }

  /**
   * Starts the worker and opens the lake in it for events of `topic`; rejects if the lake cannot
   * be opened or is fed by another topic.
   */
  static async start(
    lakeRoot: string,
    topic: string,
    options: { metrics?: Metrics; replay?: boolean; partition?: number } = {},
  ): Promise<WorkerEventSink> {
    const sink = new WorkerEventSink(lakeRoot, topic, options);
    await sink.worker();
    return sink;
  }

  private worker(): Promise<Worker> {
    if (this.starting) return this.starting;
    // Set right after the executor runs; its callbacks run later and compare against it.
    let self: Promise<Worker> | undefined = undefined;
    self = new Promise<Worker>((resolve, reject) => {
      const data: LakeSinkWorkerData = {
        lakeRoot: this.lakeRoot,
        topic: this.topic,
        replay: this.options.replay ?? false,
        partition: this.options.partition ?? 0,
      };
      const worker = new Worker(new URL('./lake-sink-worker-boot.js', import.meta.url), { workerData: data });
      const waiting = new Map<number, Waiting>();
      this.waiting.set(worker, waiting);
      let ready = false;
      worker.on('message', (message: FromWorker) => {
        if ('metrics' in message) replayMetrics(message.metrics, this.metrics);
        if (message.type === 'ready') {
          ready = true;
          resolve(worker);
        } else if (message.type === 'open-failed') {
          reject(new LakeWorkerError(message.error));
        } else {
          const request = waiting.get(message.id);
          waiting.delete(message.id);
          if (message.type === 'done') request?.resolve();
          else request?.reject(remoteError(message.error));
        }
      });
      // 'error' (an uncaught error) is followed by 'exit'; whichever comes first fails what waits.
      const lost = (cause: unknown) => {
        // Only this worker's own start is forgotten: a newer worker may be running already.
        if (this.starting === self) this.starting = undefined;
        if (!ready) reject(new LakeWorkerLostError(cause));
        for (const request of waiting.values()) request.reject(new LakeWorkerLostError(cause));
        waiting.clear();
        this.waiting.delete(worker);
      };
      worker.on('error', lost);
      worker.on('exit', (code) => lost(new Error(`exited with code ${code}`)));
    });
    this.starting = self;
    return self;
  }

  private request(worker: Worker, message: ToWorker, transfer: ArrayBuffer[] = []): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiting = this.waiting.get(worker);
      if (!waiting) {
        reject(new LakeWorkerLostError(new Error('the worker stopped')));
        return;
      }
      waiting.set(message.id, { resolve, reject });
      worker.postMessage(message, transfer);
    });
  }

  async write(events: readonly EventToWrite[]): Promise<void> {
    if (this.closing) throw new LakeWorkerLostError(new Error('the sink is closed'));
    const worker = await this.worker();
    // Copies of their own, handed over rather than cloned: a payload may be a view into a larger
    // read buffer, or a Buffer (whose slice() shares memory, often Node's pool).
    const copies = events.map((e) => ({ position: e.position, payload: new Uint8Array(e.payload) }));
    return this.request(
      worker,
      { type: 'write', id: this.nextId++, events: copies },
      copies.map((c) => c.payload.buffer as ArrayBuffer),
    );
  }

  /** Closes the lake in the worker and ends the thread. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const starting = this.starting;
    if (!starting) return;
    let worker: Worker;
    try {
      worker = await starting;
    } catch {
      return; // It never started, so there is nothing to close.
    }
    try {
      await this.request(worker, { type: 'close', id: this.nextId++ });
    } finally {
      await worker.terminate();
    }
  }
}
