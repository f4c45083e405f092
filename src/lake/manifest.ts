import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../core/durable-fs.ts';
import { TierflowError } from '../core/index.ts';

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
 * The commit record of one dataset's lake directory, `_manifest.json`, replaced atomically on
 * every commit. Readers use the live files it lists and nothing else, so a file written but not
 * committed (a crash between the two) is invisible, and a file retired by compaction stays on
 * disk until no reader can still be using it.
 */
export interface Manifest {
  format: 1;
  dataset: string;
  /** Increments on every commit. */
  version: number;
  /** The newest schema version among the live files. */
  schemaVersion: number;
  /** The highest position committed: where a writer resumes. */
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

export function emptyManifest(dataset: string): Manifest {
  return { format: 1, dataset, version: 0, schemaVersion: 0, lastPosition: null, files: [], retired: [] };
}

export async function readManifest(datasetDir: string, dataset: string): Promise<Manifest> {
  const file = path.join(datasetDir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyManifest(dataset);
    throw new ManifestError(`cannot read ${file}: ${(error as Error).message}`, error);
  }
  try {
    const manifest = JSON.parse(text) as Manifest;
    if (manifest.format !== 1 || manifest.dataset !== dataset)
      throw new Error('not a tierflow manifest of this dataset');
    return manifest;
  } catch (error) {
    throw new ManifestError(`${file} is damaged: ${(error as Error).message}`, error);
  }
}

export async function writeManifest(datasetDir: string, manifest: Manifest): Promise<void> {
  await writeFileAtomic(path.join(datasetDir, MANIFEST_FILE), JSON.stringify(manifest, null, 1));
}

/** Absolute paths of the live files. */
export function liveFiles(datasetDir: string, manifest: Manifest): string[] {
  return manifest.files.map((f) => path.join(datasetDir, f.path));
}
