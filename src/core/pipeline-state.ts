/**
 * How one long-running part of a stage (a hot processor, a cold consumer, an outbox relay) is
 * doing, as /health and `tierflow serve` report it.
 */
export interface PipelineState {
  /** 'hot-processor', 'cold-consumer', 'cold-processor', 'outbox-relay'. */
  name: string;
  /** The last error, while the part keeps failing; undefined once an attempt succeeds again. */
  failing: string | undefined;
  /** Age in seconds of the oldest entry this part has still to do (0 when it has none). */
  lagSeconds: number;
  /** Whether this process runs the part now (a hot processor waiting for the lease does not). */
  active: boolean;
}
