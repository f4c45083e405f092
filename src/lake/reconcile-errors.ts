import { TierflowError } from '../core/index.ts';

/** Reconciliation could not compare the tiers: a query failed or the hot database is unsuitable. */
export class ReconcileError extends TierflowError {
  constructor(message: string, cause?: unknown) {
    super('RECONCILE', message, { cause });
  }
}
