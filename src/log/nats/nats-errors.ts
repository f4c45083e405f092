import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import {
  ClosedConnectionError,
  ConnectionError,
  DrainingConnectionError,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from '@nats-io/transport-node';
import { LogUnavailableError } from '../errors.ts';
import { StreamRecreatedError, StreamSettingsError } from './stream-errors.ts';

/** The error and every cause under it: the client wraps no-responders in RequestError and JetStreamNotEnabled. */
function* causes(error: unknown): Generator<unknown> {
  let current = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
    yield current;
    current = current instanceof Error ? current.cause : undefined;
  }
}

export function isStreamNotFound(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound;
}

export function isConsumerNotFound(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound;
}

/** The connection was closed or is draining, as when the log closes. */
export function isConnectionGone(error: unknown): boolean {
  for (const e of causes(error)) {
    if (e instanceof ClosedConnectionError || e instanceof DrainingConnectionError) return true;
  }
  return false;
}

/** No stream listens on the subject (it was deleted, or JetStream is electing a leader). */
export function isNoResponders(error: unknown): boolean {
  for (const e of causes(error)) if (e instanceof NoRespondersError) return true;
  return false;
}

/**
 * Trying again can help: a timeout, a lost connection (the client reconnects), nobody answering
 * for the stream yet, or JetStream saying 503 (no quorum, leader election).
 */
export function isTransient(error: unknown): boolean {
  for (const e of causes(error)) {
    if (e instanceof TimeoutError || e instanceof NoRespondersError || e instanceof ConnectionError)
      return true;
    if (e instanceof RequestError && e.isNoResponders()) return true;
    if (e instanceof JetStreamApiError && e.status === 503) return true;
  }
  return false;
}

/** The label of wal_append_errors_total. */
export function failureReason(error: unknown): string {
  for (const e of causes(error)) {
    if (e instanceof StreamRecreatedError) return 'stream_recreated';
    if (e instanceof StreamSettingsError) return 'stream_settings';
    if (e instanceof TimeoutError) return 'timeout';
    if (e instanceof NoRespondersError) return 'no_responders';
    if (e instanceof ConnectionError) return 'connection';
    if (e instanceof JetStreamApiError) return 'server_error';
    if (e instanceof LogUnavailableError) return 'refused';
  }
  return 'error';
}

export function unavailable(message: string, cause: unknown): LogUnavailableError {
  if (cause instanceof LogUnavailableError) return cause;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new LogUnavailableError(`${message}: ${detail}`, { retriable: isTransient(cause), cause });
}

/** Deletes a consumer this log made; one the server already reaped (inactivity) counts as deleted. */
export async function deleteConsumer(deletion: () => Promise<boolean>): Promise<void> {
  try {
    await deletion();
  } catch (error) {
    if (!isConsumerNotFound(error)) throw error;
  }
}
