import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen } from 'cockatiel';
import type { CircuitBreakerPolicy } from 'cockatiel';
import { TierflowError } from '../core/index.ts';
import type { Metrics } from '../observe/metrics.ts';
import { METRIC, noopMetrics } from '../observe/metrics.ts';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** Consecutive failures that open the circuit. Default 5. */
  consecutiveFailures?: number;
  /** How long the circuit stays open before a probe is let through. Default 5 s. */
  halfOpenAfterMs?: number;
  /** Which failures count; others pass through without tripping the circuit. Default: all. */
  counts?: (error: Error) => boolean;
  metrics?: Metrics;
}

/** The circuit is open: the call was not attempted. */
export class CircuitOpenError extends TierflowError {
  readonly breaker: string;
  constructor(breaker: string, cause: unknown) {
    super('CIRCUIT_OPEN', `the ${breaker} circuit is open after repeated failures; not attempted`, {
      retriable: true,
      cause,
    });
    this.breaker = breaker;
  }
}

const STATE_NAMES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'open',
};
const STATE_VALUES: Record<BreakerState, number> = { closed: 0, open: 1, 'half-open': 2 };

/**
 * A named circuit breaker (cockatiel) that reports its state as `circuit_breaker_state{breaker}`
 * (0 closed, 1 open, 2 half-open) and every change as `circuit_breaker_transitions_total`.
 */
export class Breaker {
  private readonly policy: CircuitBreakerPolicy;
  private readonly metrics: Metrics;
  private readonly halfOpenAfterMs: number;
  /** When the circuit last opened (ms since the epoch). */
  private openedAt = 0;

  constructor(
    readonly name: string,
    options: BreakerOptions = {},
  ) {
    this.metrics = options.metrics ?? noopMetrics;
    this.halfOpenAfterMs = options.halfOpenAfterMs ?? 5_000;
    this.policy = circuitBreaker(handleWhen(options.counts ?? (() => true)), {
      halfOpenAfter: this.halfOpenAfterMs,
      breaker: new ConsecutiveBreaker(options.consecutiveFailures ?? 5),
    });
    this.metrics.gauge(METRIC.breakerState, 0, { breaker: name });
    this.policy.onStateChange((state) => {
      const to = STATE_NAMES[state];
      if (to === 'open') this.openedAt = Date.now();
      this.metrics.gauge(METRIC.breakerState, STATE_VALUES[to], { breaker: name });
      this.metrics.count(METRIC.breakerTransitions, { breaker: name, to });
    });
  }

  get state(): BreakerState {
    return STATE_NAMES[this.policy.state];
  }

  /**
   * Whether `execute` would attempt the work now: closed, half-open, or open for long enough that
   * the next call is the probe. A caller that picks another path while the circuit is open must
   * ask this rather than `state`: the circuit only moves to half-open inside `execute`, so one
   * that never calls it while open never closes again.
   */
  admits(): boolean {
    return this.state !== 'open' || Date.now() - this.openedAt >= this.halfOpenAfterMs;
  }

  async execute<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await this.policy.execute(work);
    } catch (error) {
      if (error instanceof BrokenCircuitError) throw new CircuitOpenError(this.name, error);
      throw error;
    }
  }
}
