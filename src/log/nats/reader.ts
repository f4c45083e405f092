import type { Consumer, JetStreamClient } from '@nats-io/jetstream';
import { nuid } from '@nats-io/transport-node';
import { InvalidTopicError, LogClosedError, UnknownTopicError } from '../errors.ts';
import type { LogEntry, ReadOptions } from '../log.ts';
import { isValidTopic } from '../log.ts';
import { decodeEntry } from './entry-codec.ts';
import { IDLE, MessagePump, STOPPED } from './message-pump.ts';
import type { NatsNames } from './names.ts';
import { takeBatch } from './batch.ts';
import { deleteConsumer, isConnectionGone, isStreamNotFound } from './nats-errors.ts';
import type { Stop } from './read-stop.ts';
import { stopOn } from './read-stop.ts';
import type { ReadStart } from './read-start.ts';
import { judgeFrom, readStart } from './read-start.ts';
import type { TopicStreams } from './topic-streams.ts';

const DEFAULT_BATCH_ENTRIES = 1000;
const DEFAULT_BATCH_BYTES = 4 * 1024 * 1024;
/** A read that is not following asks the server whether anything is left after this long without a message. */
const IDLE_CHECK_MS = 1000;
/**
 * How long one pull request stays open. The client also derives its heartbeat (half of this) and
 * its wait before checking a consumer again after a reconnect (all of it) from this, so it bounds
 * how long a reader stalls after a server restart; the cost is one pull request this often per
 * idle reader.
 */
const PULL_EXPIRES_MS = 5_000;
/**
 * How long a following reader waits without a message before it checks that the stream is still
 * the one it started on: an ordered consumer resumes a recreated stream at its old sequence,
 * which would skip the new stream's entries below it.
 */
const STREAM_CHECK_MS = 5_000;
/** The server drops a reader's consumer this long after the reader stops asking for messages. */
const CONSUMER_INACTIVE_MS = 60_000;

export interface ReaderContext {
  js: JetStreamClient;
  streams: TopicStreams;
  names: NatsNames;
  /** The largest message the server takes (max_payload) with room for subject and headers. */
  maxMessageBytes: number;
  /** Resolves when the log closes. */
  closed: Promise<void>;
  isClosed(): boolean;
  /** Whether the connection can still carry requests (it is neither closed nor draining). */
  connected(): boolean;
  /** Lets close() release the reader's consumer even while the reader is suspended at a yield; returns the unregistering function. */
  register(release: () => Promise<void>): () => void;
}

async function openConsumer(ctx: ReaderContext, topic: string, start: ReadStart): Promise<Consumer> {
  try {
    return await ctx.js.consumers.get(ctx.names.stream(topic), {
      ...start.consumer,
      name_prefix: `tierflow-${nuid.next()}`,
      inactive_threshold: CONSUMER_INACTIVE_MS,
    });
  } catch (error) {
    if (isStreamNotFound(error)) throw new UnknownTopicError(topic);
    throw error;
  }
}

function release(ctx: ReaderContext, pump: MessagePump, consumer: Consumer): () => Promise<void> {
  let releasing: Promise<void> | undefined;
  return () => {
    releasing ??= (async () => {
      await pump.close();
      if (!ctx.connected()) return; // the server drops the consumer after CONSUMER_INACTIVE_MS
      await deleteConsumer(() => consumer.delete());
    })();
    return releasing;
  };
}

/**
 * Reads a topic through an ordered consumer: an ephemeral, unacknowledged consumer that the
 * client recreates from the last sequence it saw whenever a delivery goes missing (reconnect,
 * server restart), so the read sees every sequence once and in order. The consumer pulls at
 * most max(maxBatchBytes, one largest message) bytes ahead of what the caller has taken, so the
 * reader holds about one batch.
 */
export async function* readTopic(
  ctx: ReaderContext,
  topic: string,
  options: ReadOptions,
): AsyncGenerator<LogEntry[]> {
  const maxEntries = Math.max(1, options.maxBatchEntries ?? DEFAULT_BATCH_ENTRIES);
  const maxBytes = Math.max(1, options.maxBatchBytes ?? DEFAULT_BATCH_BYTES);
  const follow = options.follow ?? true;
  if (!isValidTopic(topic)) throw new InvalidTopicError(topic);
  if (ctx.isClosed()) throw new LogClosedError();
  const stop = stopOn(ctx, options.signal);
  try {
    yield* readBatches(ctx, topic, options, stop, { maxEntries, maxBytes, follow });
  } catch (error) {
    // Closing the log drains its connection; a read still setting up then ends, as a waiting one does.
    if (stop.is() && isConnectionGone(error)) return;
    throw error;
  } finally {
    stop.dispose();
  }
}

interface Bounds {
  maxEntries: number;
  maxBytes: number;
  follow: boolean;
}

async function* readBatches(
  ctx: ReaderContext,
  topic: string,
  options: ReadOptions,
  stop: Stop,
  { maxEntries, maxBytes, follow }: Bounds,
): AsyncGenerator<LogEntry[]> {
  if (stop.is()) return;
  const info = await ctx.streams.info(topic);
  const start = readStart(options.from, info.state);
  // Without follow the read ends at the last entry that existed when it began.
  const endSeq = info.state.last_seq;
  if (!follow && (info.state.messages === 0 || start.fromSeq > endSeq)) return;

  const consumer = await openConsumer(ctx, topic, start);
  let pump: MessagePump;
  try {
    pump = new MessagePump(
      await consumer.consume({
        max_bytes: Math.max(maxBytes, ctx.maxMessageBytes),
        expires: PULL_EXPIRES_MS,
      }),
    );
  } catch (error) {
    await deleteConsumer(() => consumer.delete());
    throw error;
  }
  const releaseConsumer = release(ctx, pump, consumer);
  const unregister = ctx.register(releaseConsumer);
  try {
    if (!follow && (await consumer.info(true)).num_pending === 0) return;
    const judge = judgeFrom(start, follow ? undefined : endSeq);
    for (;;) {
      const first = await pump.next(stop.promise, follow ? STREAM_CHECK_MS : IDLE_CHECK_MS);
      if (first === STOPPED) return;
      if (first === IDLE) {
        await checkStream(ctx, topic);
        if (!follow && (await consumer.info()).num_pending === 0) return;
        continue;
      }
      const { batch, last } = await takeBatch(pump, first, judge, (msg) => decodeEntry(topic, msg), {
        maxEntries,
        maxBytes,
      });
      if (batch.length > 0) yield batch;
      if (last || stop.is()) return;
    }
  } finally {
    unregister();
    await releaseConsumer();
  }
}

/** Throws StreamRecreatedError if the topic's stream was deleted (and perhaps created again) since the read began. */
async function checkStream(ctx: ReaderContext, topic: string): Promise<void> {
  try {
    await ctx.streams.info(topic);
  } catch (error) {
    if (error instanceof UnknownTopicError) throw ctx.streams.lost(topic);
    throw error;
  }
}
