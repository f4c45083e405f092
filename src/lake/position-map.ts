import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { TierflowError } from '../core/index.ts';
import { writeFileAtomic } from '../core/durable-fs.ts';
import type { LakeWriter } from './lake-writer.ts';

/**
 * How log positions become lake positions when more than one topic feeds a lake over time
 * (stage 1's `data-written`, then stage 2's `wal`, then back). The lake skips every change at or
 * below the last position it holds, which is what makes re-reads after a crash harmless; a topic
 * that starts again from its own position 0 would be skipped entirely. So the lake keeps runs:
 * while one topic feeds it, its entry `p` lands at `base + (p − from) × 2^20`; when another topic
 * takes over, a new run starts above everything the lake holds. A lake fed by one topic has one
 * run `{from: 0, base: 0}`: lake position = log position × 2^20, as before runs existed.
 *
 * A switch is safe only once the previous topic's consumer has committed everything it wrote
 * (stage switches drain first): an entry of a topic older than its current run is refused.
 */
export interface PositionRun {
  topic: string;
  from: bigint;
  base: bigint;
}

/** Row bits of a lake position (and of a WAL row sequence): an entry or event holds at most 2^20 rows. */
export const ROW_BITS = 20n;
export const MAX_ROWS_PER_ENTRY = 1 << Number(ROW_BITS);
const FILE = '_positions.json';

export class LakeRunError extends TierflowError {
  constructor(message: string) {
    super('LAKE_RUN', message);
  }
}

export interface RunOptions {
  /**
   * The topic that fed lakes written before runs existed (stage 1's events): such a lake, non-empty
   * and without a runs file, is recorded as one run of this topic from 0.
   */
  legacyTopic?: string;
  /**
   * Replaying: never start a run above newer changes of another topic (that would make old
   * changes the latest); only an empty lake or one whose last run is this topic's is accepted.
   */
  replay?: boolean;
}

/** The run `topic` writes under, starting one if another topic wrote the lake last. */
export async function openRun(
  lake: LakeWriter,
  datasets: readonly string[],
  topic: string,
  first: bigint,
  options: RunOptions = {},
): Promise<PositionRun> {
  const file = path.join(lake.root, FILE);
  let runs: PositionRun[] = [];
  try {
    const stored = JSON.parse(await readFile(file, 'utf8')) as {
      runs: { topic: string; from: string; base: string }[];
    };
    runs = stored.runs.map((r) => ({ topic: r.topic, from: BigInt(r.from), base: BigInt(r.base) }));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  let max = -1n;
  for (const name of datasets) {
    const position = (await lake.manifest(name)).lastPosition;
    if (position !== null && BigInt(position) > max) max = BigInt(position);
  }
  if (runs.length === 0 && max >= 0n) {
    if (options.legacyTopic === undefined)
      throw new LakeRunError(
        `the lake ${lake.root} holds rows but no record of the log topic that numbered them`,
      );
    runs.push({ topic: options.legacyTopic, from: 0n, base: 0n });
  }
  const last = runs.at(-1);
  if (last?.topic === topic) {
    if (first < last.from)
      throw new LakeRunError(
        `entry ${first} of "${topic}" comes from before its current lake run (from ${last.from}); its consumer was not drained before the switch`,
      );
    if (runs.length > 0) await saveRuns(file, runs);
    return last;
  }
  if (last !== undefined && options.replay)
    throw new LakeRunError(
      `the lake's newest changes came from "${last.topic}"; replaying "${topic}" into it would put older changes above newer ones: replay into an empty lake`,
    );
  // The first run starts at 0; a later one just above the highest position the lake holds.
  const run =
    last === undefined
      ? { topic, from: 0n, base: 0n }
      : { topic, from: first, base: ((max >> ROW_BITS) + 1n) << ROW_BITS };
  runs.push(run);
  await saveRuns(file, runs);
  return run;
}

async function saveRuns(file: string, runs: readonly PositionRun[]): Promise<void> {
  await writeFileAtomic(
    file,
    JSON.stringify({
      runs: runs.map((r) => ({ topic: r.topic, from: String(r.from), base: String(r.base) })),
    }),
  );
}

/** The lake position of row `index` of the entry at log position `position`, in `run`. */
export function lakePosition(run: PositionRun, position: bigint, index: number): bigint {
  return run.base + ((position - run.from) << ROW_BITS) + BigInt(index);
}
