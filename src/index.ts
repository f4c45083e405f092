export * from './core/index.ts';
export * from './datasets/index.ts';
export { createTierflow, type Tierflow, type TierflowConfig } from './tierflow.ts';
export { Repository, type RangeOptions } from './hot/repository.ts';
export type * from './hot/repositories.ts';
export { HotStore } from './hot/hot-store.ts';
export { HotOnlyWriter } from './hot/hot-only-writer.ts';
export type { UpsertStrategy } from './hot/upsert.ts';
export { type Metrics, noopMetrics } from './observe/metrics.ts';
