import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { TierflowError } from '../core/index.ts';
import { writeFileAtomic } from '../core/durable-fs.ts';

/**
 * A lake's rows are numbered by the positions of the one log topic that feeds it (stage 1's
 * `data-written`, stage 2's `wal`), and the lake skips any position at or below the last it
 * holds, which is what makes re-reads after a crash harmless. A second topic starting at position
 * 0 would be skipped silently: so the first topic to write a lake claims it, and any other is refused.
 */
export class LakeSourceConflictError extends TierflowError {
  constructor(root: string, owner: string, topic: string) {
    super(
      'LAKE_SOURCE_CONFLICT',
      `the lake ${root} is fed by log topic "${owner}"; topic "${topic}" numbers its changes differently and would be skipped. Use another lake directory (switching stages on one lake is not supported yet)`,
    );
  }
}

const FILE = '_source.json';

export async function claimLakeSource(root: string, topic: string): Promise<void> {
  const file = path.join(root, FILE);
  let owner: string | undefined;
  try {
    owner = (JSON.parse(await readFile(file, 'utf8')) as { topic?: string }).topic;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (owner === undefined) await writeFileAtomic(file, JSON.stringify({ topic }));
  else if (owner !== topic) throw new LakeSourceConflictError(root, owner, topic);
}
