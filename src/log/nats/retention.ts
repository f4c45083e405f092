import type { JetStreamClient, JetStreamManager, JsMsg, StreamInfo } from '@nats-io/jetstream';
import { nanos, nuid } from '@nats-io/transport-node';
import { LogUnavailableError } from '../errors.ts';
import type { RetentionPolicy } from '../log.ts';
import { headerBytes } from './entry-codec.ts';
import { IDLE, MessagePump, STOPPED } from './message-pump.ts';
import { deleteConsumer } from './nats-errors.ts';
import type { Position } from '../log.ts';
import { sequenceOf } from './sequence.ts';

const SIZE_HEADER = 'Nats-Msg-Size';
const NEVER = new Promise<void>(() => {});

export interface RetentionContext {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The lowest position a group committed on the topic, each checked against the stream. */
  lowestCommitted(topic: string): Promise<Position | undefined>;
}

/** The first sequence received at or after `time`: the server finds it when it places a consumer there. */
async function firstSequenceAt(ctx: RetentionContext, stream: string, time: Date): Promise<number> {
  const ci = await ctx.jsm.consumers.add(stream, {
    ack_policy: 'none',
    deliver_policy: 'by_start_time',
    opt_start_time: time.toISOString(),
    mem_storage: true,
    num_replicas: 1,
    inactive_threshold: nanos(10_000),
  });
  try {
    // A new consumer reports the sequence before its first delivery as delivered.
    return ci.delivered.stream_seq + 1;
  } finally {
    await deleteConsumer(() => ctx.jsm.consumers.delete(stream, ci.name));
  }
}

/** The bytes the server accounts for a stored message (nats-server's file and memory store formulas). */
function storedSize(msg: JsMsg, storage: string): number {
  const headers = msg.headers ? headerBytes(msg.headers, SIZE_HEADER) : 0;
  const payload = Number(msg.headers?.get(SIZE_HEADER) || 0);
  const subject = Buffer.byteLength(msg.subject);
  if (storage === 'memory') return subject + headers + payload + 16;
  return 22 + subject + (headers > 0 ? 4 + headers : 0) + payload + 8;
}

/** The sequence to purge below so the stream holds at most `maxBytes`, from a headers-only scan of the oldest messages. */
async function firstSequenceWithin(
  ctx: RetentionContext,
  info: StreamInfo,
  maxBytes: number,
): Promise<number> {
  const excess = info.state.bytes - maxBytes;
  if (excess <= 0) return info.state.first_seq;
  const consumer = await ctx.js.consumers.get(info.config.name, {
    deliver_policy: 'by_start_sequence',
    opt_start_seq: info.state.first_seq,
    headers_only: true,
    name_prefix: `tierflow-retention-${nuid.next()}`,
    inactive_threshold: 10_000,
  });
  const pump = new MessagePump(await consumer.consume({ max_messages: 1000 }));
  try {
    let dropped = 0;
    let scanned = info.state.first_seq - 1;
    for (;;) {
      const msg = await pump.next(NEVER, 5_000);
      if (msg === STOPPED) {
        throw new LogUnavailableError(
          `the size scan of ${info.config.name} ended early (connection closed)`,
          {
            retriable: true,
          },
        );
      }
      if (msg === IDLE) {
        // Nothing left to scan: the stream shrank meanwhile.
        if ((await consumer.info()).num_pending === 0) return scanned + 1;
        continue;
      }
      scanned = msg.seq;
      dropped += storedSize(msg, info.config.storage);
      if (dropped >= excess || msg.seq >= info.state.last_seq || msg.info.pending === 0) return msg.seq + 1;
    }
  } finally {
    await pump.close();
    await deleteConsumer(() => consumer.delete());
  }
}

/**
 * Purges the oldest messages of a topic's stream: those older than maxAgeMs and as many as
 * bring it under maxBytes, but never one a group has not committed (the purge keeps the
 * message after the lowest committed position) unless forced, nor one from `keepFrom` on. Purging by sequence keeps the
 * stream's sequences, so positions never move.
 */
export async function applyRetention(
  ctx: RetentionContext,
  topic: string,
  info: StreamInfo,
  policy: RetentionPolicy,
): Promise<number> {
  const { state } = info;
  if (state.messages === 0) return 0;
  const stream = info.config.name;
  let cut = state.first_seq;
  if (policy.maxAgeMs !== undefined) {
    cut = Math.max(cut, await firstSequenceAt(ctx, stream, new Date(Date.now() - policy.maxAgeMs)));
  }
  if (policy.maxBytes !== undefined) {
    cut = Math.max(cut, await firstSequenceWithin(ctx, info, policy.maxBytes));
  }
  if (policy.force !== true) {
    const lowest = await ctx.lowestCommitted(topic);
    if (lowest !== undefined) cut = Math.min(cut, sequenceOf(lowest) + 1);
  }
  if (policy.keepFrom !== undefined) cut = Math.min(cut, keepFromSequence(policy.keepFrom));
  // Purging past the end would move the stream's next sequence forward too.
  cut = Math.min(cut, state.last_seq + 1);
  if (cut <= state.first_seq) return 0;
  const response = await ctx.jsm.streams.purge(stream, { seq: cut });
  return response.purged;
}

/** A keepFrom beyond what a sequence can hold keeps everything a stream can have. */
function keepFromSequence(position: bigint): number {
  if (position < 1n) return 1;
  return position > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(position);
}
