import { TierflowError } from '../core/index.ts';
import type { Position } from '../log/log.ts';

/**
 * One log entry that a pipeline cannot apply however often it tries: it cannot be decoded, its
 * dataset is unknown to this version, or its rows fail validation. The pipeline dead-letters it
 * (dead-letters.ts) and moves on; anything retriable never becomes one.
 */
export class RejectedEntryError extends TierflowError {
  constructor(
    readonly position: Position,
    /** The code of the error that rejected it ('EVENT_DECODE', 'UNKNOWN_DATASET', 'VALIDATION', …). */
    readonly reasonCode: string,
    reason: string,
    cause?: unknown,
  ) {
    super('ENTRY_REJECTED', `log entry ${position} cannot be applied: ${reason}`, { cause });
  }

  /** The error as a rejection of the entry at `position`, when it is about the entry itself. */
  static of(position: Position, error: unknown): RejectedEntryError | undefined {
    if (error instanceof RejectedEntryError) return error;
    if (!isAboutTheEntry(error)) return undefined;
    return RejectedEntryError.for(position, error);
  }

  /** The entry at `position` rejected for `error`, which the caller has judged to be about the entry. */
  static for(position: Position, error: unknown): RejectedEntryError {
    if (error instanceof RejectedEntryError) return error;
    const e = error as { code?: string; message?: string };
    return new RejectedEntryError(position, e?.code ?? 'DECODE', e?.message ?? String(error), error);
  }
}

/** Codes of errors that say the entry itself is wrong, whatever the state of the tiers. */
const ENTRY_CODES = new Set(['EVENT_DECODE', 'UNKNOWN_DATASET', 'VALIDATION']);

/**
 * Whether an error thrown while decoding or preparing one entry is about that entry. Errors that
 * are not tierflow's (a RangeError from a malformed payload, say) count too: what decodes an entry
 * touches no server, so nothing outside the entry can have failed.
 */
function isAboutTheEntry(error: unknown): boolean {
  if (error instanceof TierflowError) return ENTRY_CODES.has(error.code);
  return error instanceof Error;
}
