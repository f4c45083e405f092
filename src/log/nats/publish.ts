import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';
import { nuid } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { LogUnavailableError } from '../errors.ts';
import type { LogEntryInput, Position } from '../log.ts';
import { encodeHeaders, headerBytes } from './entry-codec.ts';
import { isTransient } from './nats-errors.ts';
import { positionOf } from './sequence.ts';

export interface PublishOptions {
  /** The server's max_payload: payload and headers of one message together. */
  maxPayload: number;
  /** How long one publish waits for its PubAck. */
  timeoutMs: number;
  /** Further tries of a publish that timed out or found nobody listening, with the same Nats-Msg-Id. */
  retries: number;
}

/**
 * Gives every message a Nats-Msg-Id unique to this process (a random id and a counter), so the
 * stream stores a retried publish once (within its duplicate window) and a retry learns the
 * sequence the first try got.
 */
export class MessageIds {
  private readonly appender = nuid.next();
  private counter = 0;

  next(): string {
    this.counter += 1;
    return `${this.appender}-${this.counter}`;
  }
}

interface Outgoing {
  payload: Uint8Array;
  headers: MsgHdrs;
}

function send(js: JetStreamClient, subject: string, message: Outgoing, timeoutMs: number): Promise<PubAck> {
  return js.publish(subject, message.payload, { headers: message.headers, timeout: timeoutMs });
}

/** Refuses the whole call before anything is sent if one entry cannot be sent at all. */
function outgoing(entries: readonly LogEntryInput[], ids: MessageIds, maxPayload: number): Outgoing[] {
  return entries.map((entry, i) => {
    const headers = encodeHeaders(entry, ids.next());
    const bytes = entry.payload.byteLength + headerBytes(headers);
    if (bytes > maxPayload) {
      throw new LogUnavailableError(
        `entry ${i} is ${bytes} bytes with its headers; the NATS server takes at most ${maxPayload} (max_payload)`,
        { retriable: false },
      );
    }
    return { payload: entry.payload, headers };
  });
}

async function retry(
  js: JetStreamClient,
  subject: string,
  message: Outgoing,
  options: PublishOptions,
  first: unknown,
): Promise<PubAck> {
  let last = first;
  for (let attempt = 1; attempt <= options.retries && isTransient(last); attempt++) {
    await sleep(100 * 2 ** (attempt - 1));
    try {
      return await send(js, subject, message, options.timeoutMs);
    } catch (error) {
      last = error;
    }
  }
  throw last;
}

/**
 * Publishes entries in order and resolves with their stream sequences once every PubAck is in.
 * All publishes go out at once: one connection writes them in call order and the stream stores
 * them in arrival order, so one round trip covers the whole call. A publish that failed for a
 * passing reason is sent again, in entry order, with its Nats-Msg-Id: if the first try was
 * stored, the stream answers with its sequence (duplicate) instead of storing it twice. If a
 * retried entry landed after a later one, the entries are stored but out of order, and the call
 * rejects rather than acknowledge them.
 */
export async function publishInOrder(
  js: JetStreamClient,
  subject: string,
  entries: readonly LogEntryInput[],
  ids: MessageIds,
  options: PublishOptions,
): Promise<Position[]> {
  const messages = outgoing(entries, ids, options.maxPayload);
  const settled = await Promise.allSettled(messages.map((m) => send(js, subject, m, options.timeoutMs)));
  const positions: Position[] = [];
  for (const [i, result] of settled.entries()) {
    const ack =
      result.status === 'fulfilled'
        ? result.value
        : await retry(js, subject, messages[i]!, options, result.reason);
    const position = positionOf(ack.seq);
    const previous = positions.at(-1);
    if (previous !== undefined && position <= previous) {
      throw new LogUnavailableError(
        `entry ${i} of ${entries.length} was stored at sequence ${position}, not after ${previous}: a retry landed out of order`,
        { retriable: true },
      );
    }
    positions.push(position);
  }
  return positions;
}
