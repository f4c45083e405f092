import type { Position } from '../log/log.ts';
import type { Log } from '../log/log.ts';
import type { RetentionRunner, RetentionSettings } from '../log/retention/index.ts';
import { resolveRetention, startRetention } from '../log/retention/index.ts';
import type { Metrics } from '../observe/metrics.ts';

/**
 * Retention of one stage's topic, run by every process that runs the stage (passes are
 * idempotent, so several processes trimming one log agree). Nothing the stage's cold group has
 * not committed is dropped, nor, with `keepFrom`, anything a consumer keeping its position
 * elsewhere still needs. The dead-letter topic is left alone: its entries wait for an operator.
 */
export function startStageRetention(
  log: Log,
  settings: RetentionSettings | false | undefined,
  stage: {
    topic: string;
    group: string;
    keepFrom?: () => Promise<Position>;
    metrics: Metrics;
    onError?: (error: unknown) => void;
  },
): RetentionRunner | undefined {
  if (settings === false) return undefined;
  const { maxAgeMs, maxBytes, intervalMs } = settings ?? resolveRetention(process.env);
  const keepFrom = stage.keepFrom;
  return startRetention(log, {
    topics: [stage.topic],
    maxAgeMs,
    maxBytes,
    intervalMs,
    requireGroups: [stage.group],
    ...(keepFrom ? { keepFrom: () => keepFrom() } : {}),
    metrics: stage.metrics,
    ...(stage.onError ? { onError: stage.onError } : {}),
  });
}
