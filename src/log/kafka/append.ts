import type { MessageToProduce } from '@platformatic/kafka';
import type { LogEntryInput, Position } from '../log.ts';
import type { ProducerSlot } from './clients.ts';
import { partitionOf } from '../partitioner.ts';
import { kafkaErrorName } from './kafka-errors.ts';
import { positionOf } from '../partition-position.ts';

/** One send holds at most this many bytes (unless one append alone is larger, see below). */
export const SEND_MAX_BYTES = 4 * 1024 * 1024;

interface Outgoing {
  partition: number;
  message: MessageToProduce<Buffer, Buffer, Buffer, Buffer>;
  bytes: number;
}

interface Pending {
  topic: string;
  outgoing: Outgoing[];
  bytes: number;
  resolve(positions: Position[]): void;
  reject(error: unknown): void;
}

export interface AppenderLimits {
  /** An append not acknowledged within this long rejects (it may still be written: at least once). */
  timeoutMs: number;
  /** Bytes of appends waiting for their send; beyond it an append is refused at once. */
  maxQueuedBytes: number;
}

/** The broker answered a send with offsets at or below ones it gave this process before. */
export class OffsetsWentBackError extends Error {
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly base: bigint,
    readonly seen: bigint,
  ) {
    super(
      `the broker stored entries of "${topic}" partition ${partition} from offset ${base}, but acknowledged offset ${seen} to this process before: the topic was deleted and created again`,
    );
  }
}

/**
 * Appends go to Kafka one send at a time, and the appends that arrive while a send is out travel
 * together in the next one (group commit). One at a time is not a choice of speed: the client
 * advances an idempotent producer's sequence numbers when a send is answered, not when it leaves,
 * so two sends in flight at once carry the same sequence, and the broker answers the second as a
 * duplicate of the first — acknowledged, never written (seen: 15 of 400 entries in the conformance
 * suite's concurrent test). Within a send, each partition's entries form one record batch with
 * consecutive offsets from the base offset the broker returns, in the order they were queued.
 */
export class GroupAppender {
  private queue: Pending[] = [];
  private queuedBytes = 0;
  private sending: Promise<void> | undefined;
  /** Per topic-partition, the highest offset a send of this process was acknowledged with. */
  private readonly acknowledged = new Map<string, bigint>();

  constructor(
    private readonly slot: ProducerSlot,
    private readonly limits: AppenderLimits,
    private readonly overdue: (message: string) => Error,
  ) {}

  append(kafkaTopic: string, partitions: number, entries: readonly LogEntryInput[]): Promise<Position[]> {
    let outgoing: Outgoing[];
    try {
      outgoing = entries.map((entry) => toOutgoing(kafkaTopic, partitions, entry));
    } catch (error) {
      return Promise.reject(error as Error);
    }
    const bytes = outgoing.reduce((sum, o) => sum + o.bytes, 0);
    if (this.queuedBytes > 0 && this.queuedBytes + bytes > this.limits.maxQueuedBytes)
      return Promise.reject(
        this.overdue(
          `${this.queuedBytes} bytes of appends already wait for the broker (limit ${this.limits.maxQueuedBytes})`,
        ),
      );
    return new Promise<Position[]>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        const queued = this.queue.indexOf(pending);
        if (queued >= 0) {
          this.queue.splice(queued, 1);
          this.queuedBytes -= bytes;
        }
        reject(this.overdue(`no acknowledgement within ${this.limits.timeoutMs} ms`));
      }, this.limits.timeoutMs);
      const pending: Pending = {
        topic: kafkaTopic,
        outgoing,
        bytes,
        resolve: (positions) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve(positions);
        },
        reject: (error) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          reject(error);
        },
      };
      this.queue.push(pending);
      this.queuedBytes += bytes;
      this.sending ??= this.pump();
    });
  }

  /** Resolves once every queued append has been sent (or failed). */
  async drain(): Promise<void> {
    while (this.sending) await this.sending;
  }

  private async pump(): Promise<void> {
    for (;;) {
      if (this.queue.length === 0) {
        // Cleared here, not in a later microtask: an append queued from now on starts a pump.
        this.sending = undefined;
        return;
      }
      // Take whole appends up to the byte limit; a larger append goes alone, in chunks.
      const group: Pending[] = [this.queue.shift()!];
      let bytes = group[0]!.bytes;
      while (this.queue.length > 0 && bytes + this.queue[0]!.bytes <= SEND_MAX_BYTES) {
        bytes += this.queue[0]!.bytes;
        group.push(this.queue.shift()!);
      }
      this.queuedBytes -= bytes;
      try {
        const positions =
          group.length === 1 && bytes > SEND_MAX_BYTES
            ? await this.sendAlone(group[0]!)
            : await this.send(group);
        group.forEach((pending, i) => pending.resolve(positions[i]!));
      } catch (error) {
        // One append the topic refuses as too large must not fail the appends sent with it.
        if (group.length > 1 && kafkaErrorName(error, 'MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE'))
          for (const pending of group) await this.sendEach(pending);
        else for (const pending of group) pending.reject(error);
      }
      // One turn of the event loop: the appenders just answered queue their next appends, and
      // they travel together in the next send instead of the first of them alone (measured: 314
      // sends alternating 1 and 63 entries for 64 appenders without it, 158 of 64 with it).
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private async sendEach(pending: Pending): Promise<void> {
    try {
      const [positions] =
        pending.bytes > SEND_MAX_BYTES ? await this.sendAlone(pending) : await this.send([pending]);
      pending.resolve(positions!);
    } catch (error) {
      pending.reject(error);
    }
  }

  /** One send of several appends; their positions, append by append. */
  private async send(group: readonly Pending[]): Promise<Position[][]> {
    const messages = group.flatMap((p) => p.outgoing.map((o) => o.message));
    const base = await this.produce(messages);
    for (const [key, offset] of base) {
      const seen = this.acknowledged.get(key);
      if (seen !== undefined && offset <= seen) {
        const [topic, partition] = key.split('\0');
        throw new OffsetsWentBackError(topic!, Number(partition), offset, seen);
      }
    }
    const next = new Map<string, bigint>();
    const positions = group.map((pending) =>
      pending.outgoing.map((o) => {
        const key = `${pending.topic}\0${o.partition}`;
        const offset = next.get(key) ?? base.get(key);
        if (offset === undefined)
          throw new Error(`the broker returned no offset for partition ${o.partition} of "${pending.topic}"`);
        next.set(key, offset + 1n);
        return positionOf(o.partition, offset);
      }),
    );
    for (const [key, after] of next) this.acknowledged.set(key, after - 1n);
    return positions;
  }

  /** An append larger than one send: its chunks one after the other, in order. */
  private async sendAlone(pending: Pending): Promise<Position[][]> {
    const positions: Position[] = [];
    let chunk: Outgoing[] = [];
    let bytes = 0;
    const flush = async () => {
      if (chunk.length === 0) return;
      const [sent] = await this.send([{ ...pending, outgoing: chunk, bytes }]);
      positions.push(...sent!);
      chunk = [];
      bytes = 0;
    };
    for (const o of pending.outgoing) {
      if (bytes + o.bytes > SEND_MAX_BYTES) await flush();
      chunk.push(o);
      bytes += o.bytes;
    }
    await flush();
    return [positions];
  }

  /** Sends, and returns each topic-partition's base offset. A failed send retires its producer. */
  private async produce(
    messages: MessageToProduce<Buffer, Buffer, Buffer, Buffer>[],
  ): Promise<Map<string, bigint>> {
    const producer = this.slot.get();
    let result;
    try {
      result = await producer.send({ messages });
    } catch (error) {
      this.slot.retire(producer);
      throw error;
    }
    this.slot.count(producer, messages.length);
    const base = new Map<string, bigint>();
    for (const r of result.offsets ?? []) base.set(`${r.topic}\0${r.partition}`, r.offset);
    return base;
  }
}

function toOutgoing(topic: string, partitions: number, entry: LogEntryInput): Outgoing {
  const partition = entry.partition ?? partitionOf(entry.key, partitions);
  if (!Number.isInteger(partition) || partition < 0 || partition >= partitions)
    throw new RangeError(`partition ${entry.partition} of "${topic}", which has ${partitions}`);
  const key = entry.key === undefined ? undefined : Buffer.from(entry.key);
  const value = Buffer.from(entry.payload.buffer, entry.payload.byteOffset, entry.payload.byteLength);
  let bytes = value.byteLength + (key?.byteLength ?? 0) + 64;
  const headers = new Map<Buffer, Buffer>();
  for (const [name, text] of Object.entries(entry.headers ?? {})) {
    const k = Buffer.from(name);
    const v = Buffer.from(text);
    headers.set(k, v);
    bytes += k.byteLength + v.byteLength + 8;
  }
  return { partition, bytes, message: { topic, partition, key, value, headers } };
}
