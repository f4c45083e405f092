import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../core/durable-fs.ts';
import { TierflowError } from '../core/index.ts';
import { parseScopeDigits, scopeSuffix } from './scope.ts';

/** A committed Parquet file of a dataset. Paths are relative to the dataset's directory. */
export interface ManifestFile {
  path: string;
  /** UTC day of the hive partition, YYYY-MM-DD. */
  partition: string;
  rows: number;
  bytes: number;
  /** Positions as decimal text (JSON has no 64-bit integers). */
  firstPosition: string;
  lastPosition: string;
  minEventTime: string;
  maxEventTime: string;
  schemaVersion: number;
  committedAt: string;
}

export interface RetiredFile {
  path: string;
  retiredAt: string;
}

/**
 * The commit record of one scope (scope.ts) of one dataset's lake directory: `_manifest.json` for
 * scope 0, `_manifest+p<p>.json` for source partition p, replaced atomically on every commit.
 * Readers use the live files the manifests list and nothing else, so a file written but not
 * committed (a crash between the two) is invisible, and a file retired by compaction stays on
 * disk until no reader can still be using it.
 */
export interface Manifest {
  format: 1;
  dataset: string;
  /** The scope (source partition); absent for scope 0, so its manifest reads as before scopes. */
  partition?: number;
  /** Increments on every commit. */
  version: number;
  /** The newest schema version among the live files. */
  schemaVersion: number;
  /** The highest position committed in this scope: where its writer resumes. */
  lastPosition: string | null;
  files: ManifestFile[];
  retired: RetiredFile[];
}

export const MANIFEST_FILE = '_manifest.json';

export class ManifestError extends TierflowError {
  constructor(message: string, cause?: unknown) {
    super('LAKE_MANIFEST', message, { cause });
  }
}

/** `_manifest.json` for scope 0, `_manifest+p<p>.json` for scope p. */
export function manifestFileName(partition = 0): string {
  return `_manifest${scopeSuffix(partition)}.json`;
}

/** The scope a dataset directory entry is the manifest of, or undefined. */
export function parseManifestFileName(name: string): number | undefined {
  const m = /^_manifest(?:\+p(\d+))?\.json$/.exec(name);
  return m ? parseScopeDigits(m[1]) : undefined;
}

export function emptyManifest(dataset: string, partition = 0): Manifest {
  return {
    format: 1,
    dataset,
    ...(partition === 0 ? {} : { partition }),
    version: 0,
    schemaVersion: 0,
    lastPosition: null,
    files: [],
    retired: [],
  };
}

/** One scope's manifest; an empty one when the scope has committed nothing yet. */
export async function readManifest(datasetDir: string, dataset: string, partition = 0): Promise<Manifest> {
  const file = path.join(datasetDir, manifestFileName(partition));
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyManifest(dataset, partition);
    throw new ManifestError(`cannot read ${file}: ${(error as Error).message}`, error);
  }
  try {
    const manifest = JSON.parse(text) as Manifest;
    if (manifest.format !== 1 || manifest.dataset !== dataset)
      throw new Error('not a tierflow manifest of this dataset');
    if ((manifest.partition ?? 0) !== partition)
      throw new Error(`it names scope ${manifest.partition ?? 0}, not ${partition}`);
    return manifest;
  } catch (error) {
    throw new ManifestError(`${file} is damaged: ${(error as Error).message}`, error);
  }
}

/** Commits the manifest of the scope it names (`partition`, absent for scope 0). */
export async function writeManifest(datasetDir: string, manifest: Manifest): Promise<void> {
  await writeFileAtomic(
    path.join(datasetDir, manifestFileName(manifest.partition ?? 0)),
    JSON.stringify(manifest, null, 1),
  );
}

/** The scopes with a manifest in a dataset's directory, ascending. */
export async function manifestScopes(datasetDir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(datasetDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ManifestError(`cannot list ${datasetDir}: ${(error as Error).message}`, error);
  }
  const scopes: number[] = [];
  for (const name of names) {
    const scope = parseManifestFileName(name);
    if (scope !== undefined) scopes.push(scope);
  }
  return scopes.sort((a, b) => a - b);
}

/**
 * Every scope's manifest of a dataset, scope 0 first (empty when it has none), so a reader sees
 * the files of every writer. A dataset whose keys each live in one scope (Kafka routes by key)
 * needs nothing more: its latest version per key is the highest position within that scope.
 */
export async function readAllManifests(datasetDir: string, dataset: string): Promise<Manifest[]> {
  const scopes = await manifestScopes(datasetDir);
  if (scopes[0] !== 0) scopes.unshift(0);
  return Promise.all(scopes.map((scope) => readManifest(datasetDir, dataset, scope)));
}

/** Absolute paths of the live files. */
export function liveFiles(datasetDir: string, manifest: Manifest): string[] {
  return manifest.files.map((f) => path.join(datasetDir, f.path));
}
