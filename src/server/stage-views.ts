import type { PipelineState } from '../core/index.ts';
import type { Stage1 } from '../pipeline/stage1.ts';
import type { Stage2 } from '../wal/stage2.ts';
import type { StageView } from './health-probes.ts';

/** The pipelines a stage status reports; none from a runtime that does not report them yet. */
function pipelinesOf(status: object): readonly PipelineState[] {
  return 'pipelines' in status && Array.isArray(status.pipelines)
    ? (status.pipelines as PipelineState[])
    : [];
}

/** Stage 1: the outbox relay and cold consumer; the hot, cold and event-log breakers. */
export function stage1View(stage: Stage1): () => Promise<StageView> {
  return async () => {
    const status = await stage.status();
    return {
      pipelines: pipelinesOf(status),
      breakers: { hot: status.hotBreaker, cold: status.coldBreaker, 'event-log': status.eventLogBreaker },
      status,
    };
  };
}

/** Stage 2: the hot and cold processors; the cold breaker. */
export function stage2View(stage: Stage2): () => Promise<StageView> {
  return async () => {
    const status = await stage.status();
    return { pipelines: pipelinesOf(status), breakers: { cold: status.coldBreaker }, status };
  };
}
