import { TierflowError } from '../core/index.ts';

/** The Kafka broker tierflow runs could not be fetched, started, reached or stopped. */
export class KafkaBrokerError extends TierflowError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('KAFKA_BROKER', message, options);
  }
}
