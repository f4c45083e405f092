import type { Command } from 'commander';
import type { Tierflow, TierflowConfig } from '../tierflow.ts';
import { createTierflow } from '../tierflow.ts';

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

/** Opens tierflow for one command and always closes it, also when the command fails. */
export async function withTierflow<T>(
  options: GlobalOptions,
  work: (tf: Tierflow) => Promise<T>,
  extra: TierflowConfig = {},
): Promise<T> {
  const tf = await createTierflow({ ...configFrom(options), ...extra });
  try {
    return await work(tf);
  } finally {
    await tf.close();
  }
}
