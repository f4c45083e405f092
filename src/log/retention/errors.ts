import { TierflowError } from '../../core/index.ts';

/** One topic's retention pass failed; the next pass tries again. */
export class RetentionError extends TierflowError {
  readonly topic: string;
  readonly backend: string;
  constructor(backend: string, topic: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super('LOG_RETENTION', `retention of ${backend} topic "${topic}" failed: ${detail}`, {
      retriable: cause instanceof TierflowError ? cause.retriable : true,
      cause,
    });
    this.topic = topic;
    this.backend = backend;
  }
}
