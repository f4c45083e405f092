import { TierflowError } from '../core/index.ts';

/** A log entry that is no data-written event in any format this version reads. Not retriable. */
export class EventDecodeError extends TierflowError {
  constructor(message: string, cause?: unknown) {
    super('EVENT_DECODE', message, { cause });
  }
}
