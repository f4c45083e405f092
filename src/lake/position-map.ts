import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { TierflowError } from '../core/index.ts';
import { writeFileAtomic } from '../core/durable-fs.ts';
import type { LakeWriter } from './lake-writer.ts';
import type { Manifest } from './manifest.ts';
import { readAllManifests } from './manifest.ts';
import { runsFileName } from './scope.ts';

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
 *
 * Each scope of a lake (scope.ts: one per source partition) keeps runs of its own
 * (`_positions.json` for scope 0, `_positions+p<p>.json` for scope p), numbering by its
 * partition's own offsets. Positions of different scopes are not comparable, which is right while
 * a key stays in one scope (Kafka routes by key). A key changes scope only when the topic feeding
 * the lake changes (stage 1's partitioned events, then stage 2's one-partition WAL, then back), so
 * a run of a topic starts above every row *another topic* wrote in any scope: the key's versions
 * stay ordered by position across the switch, whichever scope they sit in.
 */
export interface PositionRun {
  topic: string;
  from: bigint;
  base: bigint;
}

/** Row bits of a lake position (and of a WAL row sequence): an entry or event holds at most 2^20 rows. */
export const ROW_BITS = 20n;
export const MAX_ROWS_PER_ENTRY = 1 << Number(ROW_BITS);

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

/**
 * The run `topic` writes under in the writer's scope, starting one if another topic wrote the
 * scope last, or wrote another scope since this scope's run began.
 */
export async function openRun(
  lake: LakeWriter,
  datasets: readonly string[],
  topic: string,
  first: bigint,
  options: RunOptions = {},
): Promise<PositionRun> {
  const file = lake.runsFile;
  const runs = (await readRuns(file)) ?? [];
  let max = -1n;
  for (const name of datasets) max = maxOf(max, (await lake.manifest(name)).lastPosition);
  if (runs.length === 0 && max >= 0n) {
    if (options.legacyTopic === undefined)
      throw new LakeRunError(
        `the lake ${lake.root} holds rows but no record of the log topic that numbered them`,
      );
    runs.push({ topic: options.legacyTopic, from: 0n, base: 0n });
  }
  const others = await otherTopicsMax(lake, datasets, topic, options.legacyTopic);
  const last = runs.at(-1);
  if (last?.topic === topic && others.max < last.base) {
    if (first < last.from)
      throw new LakeRunError(
        `entry ${first} of "${topic}" comes from before its current lake run (from ${last.from}); its consumer was not drained before the switch`,
      );
    if (runs.length > 0) await saveRuns(file, runs);
    return last;
  }
  if (options.replay && last !== undefined && last.topic !== topic)
    throw new LakeRunError(
      `the lake's newest changes came from "${last.topic}"; replaying "${topic}" into it would put older changes above newer ones: replay into an empty lake`,
    );
  if (options.replay && others.max >= 0n)
    throw new LakeRunError(
      `scope ${others.scope} of the lake holds changes of ${others.topic === undefined ? 'an unrecorded topic' : `"${others.topic}"`}; replaying "${topic}" into it would put older changes above newer ones: replay into an empty lake`,
    );
  // The first run starts at 0; a later one just above the highest position the scope holds, and
  // above every other topic's rows in the other scopes.
  const above = max > others.max ? max : others.max;
  const run =
    last === undefined && above < 0n
      ? { topic, from: 0n, base: 0n }
      : { topic, from: first, base: ((above >> ROW_BITS) + 1n) << ROW_BITS };
  runs.push(run);
  await saveRuns(file, runs);
  return run;
}

/**
 * The highest position of a row another topic than `topic` wrote in a scope other than the
 * writer's (an upper bound: a file holding rows of several runs counts up to the run boundary),
 * read from the other scopes' committed manifests and runs files; -1 when there is none.
 */
async function otherTopicsMax(
  lake: LakeWriter,
  datasets: readonly string[],
  topic: string,
  legacyTopic: string | undefined,
): Promise<{ max: bigint; scope?: number; topic?: string }> {
  const runsOf = new Map<number, Promise<PositionRun[] | undefined>>();
  let found: { max: bigint; scope?: number; topic?: string } = { max: -1n };
  for (const name of datasets) {
    for (const manifest of await readAllManifests(lake.datasetDir(name), name)) {
      const scope = manifest.partition ?? 0;
      if (scope === lake.partition || manifest.lastPosition === null) continue;
      let stored = runsOf.get(scope);
      if (!stored) runsOf.set(scope, (stored = readRuns(path.join(lake.root, runsFileName(scope)))));
      const runs =
        (await stored) ?? (legacyTopic === undefined ? [] : [{ topic: legacyTopic, from: 0n, base: 0n }]);
      const last = runs.at(-1);
      const bound = last?.topic === topic ? belowRun(manifest, last.base) : BigInt(manifest.lastPosition);
      if (bound > found.max) found = { max: bound, scope, topic: last?.topic };
    }
  }
  return found;
}

/** The highest position below `base` a manifest's files can hold, -1 for none. */
function belowRun(manifest: Manifest, base: bigint): bigint {
  let max = -1n;
  for (const f of manifest.files) {
    if (BigInt(f.firstPosition) >= base) continue;
    const last = BigInt(f.lastPosition);
    const bound = last < base ? last : base - 1n;
    if (bound > max) max = bound;
  }
  return max;
}

function maxOf(max: bigint, position: string | null): bigint {
  return position !== null && BigInt(position) > max ? BigInt(position) : max;
}

async function readRuns(file: string): Promise<PositionRun[] | undefined> {
  try {
    const stored = JSON.parse(await readFile(file, 'utf8')) as {
      runs: { topic: string; from: string; base: string }[];
    };
    return stored.runs.map((r) => ({ topic: r.topic, from: BigInt(r.from), base: BigInt(r.base) }));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return undefined;
  }
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
