import type { Command } from 'commander';
import type { Tierflow, TierflowConfig } from '../tierflow.ts';
import { createTierflow } from '../tierflow.ts';
import { closeOnSignal } from './signals.ts';

export interface GlobalOptions {
  databaseUrl?: string;
  dataDir?: string;
  schema?: string;
  verbose?: boolean;
}

export function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

export function configFrom(options: GlobalOptions): TierflowConfig {
  return { databaseUrl: options.databaseUrl, dataDir: options.dataDir, schema: options.schema };
}

/**
 * Opens tierflow for one command and always closes it: when the command ends, when it fails, and
 * on SIGINT or SIGTERM (signals.ts), which also stops an embedded PostgreSQL it started.
 */
export async function withTierflow<T>(
  options: GlobalOptions,
  work: (tf: Tierflow) => Promise<T>,
  extra: TierflowConfig = {},
): Promise<T> {
  const tf = await createTierflow({ ...configFrom(options), ...extra });
  const unregister = closeOnSignal(() => tf.close());
  try {
    return await work(tf);
  } finally {
    unregister();
    await tf.close();
  }
}
