import { randomBytes } from 'node:crypto';
import { open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { acquireLock } from '../core/dir-lock.ts';
import { mkdirDurable, syncDirectory } from '../core/durable-fs.ts';
import type { Change, Dataset } from '../core/index.ts';
import { TierflowError, ValidationError } from '../core/index.ts';
import type { Metrics } from '../observe/metrics.ts';
import { METRIC, noopMetrics } from '../observe/metrics.ts';
import { lakeTable } from './arrow-table.ts';
import { lakeFileName, scopeOfLakeFile } from './file-name.ts';
import type { LakeBatch } from './lake-batch.ts';
import { lakeBatchOf, takeRows } from './lake-batch.ts';
import type { Manifest, ManifestFile } from './manifest.ts';
import { readManifest, writeManifest } from './manifest.ts';
import { toParquet } from './parquet.ts';
import { dayOf, partitionDir } from './partition.ts';
import { lockFileName, runsFileName, scopeOf } from './scope.ts';

export class LakeWriteError extends TierflowError {
  constructor(message: string, cause: unknown, retriable: boolean) {
    super('LAKE_WRITE', message, { cause, retriable });
  }
}

export interface LakeCommit {
  dataset: string;
  /** Changes written now; those at or below the manifest's last position were already there. */
  written: number;
  skipped: number;
  files: ManifestFile[];
  manifestVersion: number;
}

const TEMP_SUFFIX = '.tmp';

export interface LakeWriterOptions {
  /**
   * The scope to write (scope.ts): the source partition whose changes this writer commits, with
   * positions numbered by that partition's own offsets. Undefined or 0: the lake's original
   * writer, with the names every lake had before scopes (`LOCK`, `_manifest.json`,
   * `<dataset>+<first>+<last>.parquet`, `_positions.json`).
   */
  partition?: number;
  metrics?: Metrics;
}

/**
 * Writes batches of changes into the lake with exactly-once files: per UTC day one Parquet file
 * named after its position range, written to a temporary name, fsynced, renamed, its directory
 * fsynced; then one atomic manifest commit for the whole batch. A change at or below the
 * manifest's last position is already committed and is skipped, so a batch replayed after a
 * crash adds nothing twice. One writer process per scope of a lake directory (a lock file per
 * scope); writers of different scopes run side by side, each touching only its own files,
 * manifests and runs.
 */
export class LakeWriter {
  private manifests = new Map<string, Promise<Manifest>>();
  private chains = new Map<string, Promise<unknown>>();
  private closed = false;

  private constructor(
    readonly root: string,
    /** The scope (source partition) this writer owns; 0 for a lake's original writer. */
    readonly partition: number,
    private readonly release: () => Promise<void>,
    private readonly metrics: Metrics,
  ) {}

  static async open(root: string, options: LakeWriterOptions = {}): Promise<LakeWriter> {
    const partition = scopeOf(options.partition);
    const dir = path.resolve(root);
    try {
      await mkdirDurable(dir);
    } catch (error) {
      throw new LakeWriteError(
        `cannot create the lake directory ${dir}: ${(error as Error).message}`,
        error,
        false,
      );
    }
    const release = await acquireLock(dir, lockFileName(partition));
    return new LakeWriter(dir, partition, release, options.metrics ?? noopMetrics);
  }

  datasetDir(dataset: string): string {
    return path.join(this.root, dataset);
  }

  /** The name of this scope's file for a position range (file-name.ts). */
  fileName(dataset: string, first: bigint, last: bigint): string {
    return lakeFileName(dataset, first, last, this.partition);
  }

  /** This scope's position runs (position-map.ts). */
  get runsFile(): string {
    return path.join(this.root, runsFileName(this.partition));
  }

  /** This scope's committed manifest (cached; this process is the scope's only writer). */
  manifest(dataset: string): Promise<Manifest> {
    let m = this.manifests.get(dataset);
    if (!m) {
      m = this.recover(dataset);
      this.manifests.set(dataset, m);
      m.catch(() => this.manifests.delete(dataset));
    }
    return m;
  }

  /** Writes one batch of changes of one dataset; batches of a dataset commit one after another. */
  write(dataset: Dataset<unknown, unknown>, changes: readonly Change[]): Promise<LakeCommit> {
    let batch: LakeBatch;
    try {
      batch = lakeBatchOf(dataset, changes);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return this.writeBatch(dataset, batch);
  }

  /** `write` for changes given column by column. */
  writeBatch(dataset: Dataset<unknown, unknown>, batch: LakeBatch): Promise<LakeCommit> {
    if (this.closed) return Promise.reject(new LakeWriteError('the lake writer is closed', undefined, false));
    const previous = this.chains.get(dataset.name) ?? Promise.resolve();
    const next = previous.then(() => this.writeNow(dataset, batch));
    this.chains.set(
      dataset.name,
      next.catch(() => undefined), // the caller sees the failure through `next`
    );
    return next;
  }

  /**
   * Runs `change` on the dataset's committed manifest, in turn with the dataset's writes, and
   * commits what it returns. Compaction swaps files through this.
   */
  transact(
    dataset: string,
    change: (manifest: Manifest, dir: string) => Promise<Manifest>,
  ): Promise<Manifest> {
    if (this.closed) return Promise.reject(new LakeWriteError('the lake writer is closed', undefined, false));
    const previous = this.chains.get(dataset) ?? Promise.resolve();
    const next = previous.then(async () => {
      const dir = this.datasetDir(dataset);
      const updated = await change(await this.manifest(dataset), dir);
      if ((updated.partition ?? 0) !== this.partition)
        throw new LakeWriteError(`${dataset}: a commit must stay in its writer's scope`, undefined, false);
      await writeManifest(dir, { ...updated, version: updated.version + 1 });
      const committed = { ...updated, version: updated.version + 1 };
      this.manifests.set(dataset, Promise.resolve(committed));
      return committed;
    });
    this.chains.set(
      dataset,
      next.catch(() => undefined), // the caller sees the failure through `next`
    );
    return next;
  }

  private async writeNow(dataset: Dataset<unknown, unknown>, batch: LakeBatch): Promise<LakeCommit> {
    const started = performance.now();
    const manifest = await this.manifest(dataset.name);
    const last = manifest.lastPosition === null ? -1n : BigInt(manifest.lastPosition);
    const { positions, eventTimes } = batch;
    // Rows at or below the manifest's last position are committed already: skipped, by day.
    const byDay = new Map<string, number[]>();
    let fresh = 0;
    let previous: bigint | undefined;
    for (let i = 0; i < batch.length; i++) {
      const position = positions[i]!;
      if (position <= last) continue;
      if (previous !== undefined && position <= previous) {
        throw new ValidationError(
          dataset.name,
          fresh,
          'position',
          `positions must increase within a batch (${position} after ${previous})`,
        );
      }
      previous = position;
      fresh++;
      const day = dayOf(eventTimes[i]!);
      let list = byDay.get(day);
      if (!list) byDay.set(day, (list = []));
      list.push(i);
    }
    if (fresh === 0)
      return {
        dataset: dataset.name,
        written: 0,
        skipped: batch.length,
        files: [],
        manifestVersion: manifest.version,
      };

    const ingestedAt = Date.now() * 1000;
    const dir = this.datasetDir(dataset.name);
    const files: ManifestFile[] = [];
    try {
      for (const [day, rows] of byDay)
        files.push(await this.writeFile(dataset, dir, day, takeRows(batch, rows), ingestedAt));
      const committed: Manifest = {
        ...manifest,
        version: manifest.version + 1,
        schemaVersion: Math.max(manifest.schemaVersion, dataset.version),
        lastPosition: String(previous),
        files: [...manifest.files.filter((f) => !files.some((n) => n.path === f.path)), ...files],
      };
      await writeManifest(dir, committed);
      this.manifests.set(dataset.name, Promise.resolve(committed));
      this.metrics.observe(METRIC.coldWriteLatency, (performance.now() - started) / 1000, {
        dataset: dataset.name,
      });
      this.metrics.count(METRIC.recordsWritten, { repository: dataset.name, tier: 'cold' }, fresh);
      this.metrics.count(
        METRIC.bytesWritten,
        { tier: 'cold' },
        files.reduce((s, f) => s + f.bytes, 0),
      );
      return {
        dataset: dataset.name,
        written: fresh,
        skipped: batch.length - fresh,
        files,
        manifestVersion: committed.version,
      };
    } catch (error) {
      // Files renamed into place but never committed are invisible; remove them now rather
      // than at the next open, so a full disk gets its space back for the retry.
      // The manifest on disk decides: a failure after its rename (an fsync of the directory)
      // may have committed the batch already, and then its files must stay.
      const onDisk = await readManifest(dir, dataset.name, this.partition);
      this.manifests.set(dataset.name, Promise.resolve(onDisk));
      const committed = new Set(onDisk.files.map((f) => f.path));
      for (const f of files) if (!committed.has(f.path)) await rm(path.join(dir, f.path), { force: true });
      this.metrics.count(METRIC.writeErrors, {
        type: (error as NodeJS.ErrnoException).code ?? 'lake',
        tier: 'cold',
      });
      if (error instanceof TierflowError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      throw new LakeWriteError(
        `${dataset.name}: writing the lake failed: ${(error as Error).message}`,
        error,
        code === 'ENOSPC' || code === 'EIO' || code === 'EAGAIN',
      );
    }
  }

  private async writeFile(
    dataset: Dataset<unknown, unknown>,
    dir: string,
    day: string,
    batch: LakeBatch,
    ingestedAt: number,
  ): Promise<ManifestFile> {
    const bytes = toParquet(lakeTable(dataset, batch, ingestedAt));
    const partition = partitionDir(day);
    const partitionPath = path.join(dir, partition);
    await mkdirDurable(partitionPath);
    const first = batch.positions[0]!;
    const last = batch.positions.at(-1)!;
    const name = this.fileName(dataset.name, first, last);
    const temp = path.join(partitionPath, `.${name}.${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`);
    try {
      const handle = await open(temp, 'w');
      try {
        await handle.writeFile(bytes);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      await rename(temp, path.join(partitionPath, name));
    } catch (error) {
      await rm(temp, { force: true }); // a partial file would hold the space the retry needs
      throw error;
    }
    await syncDirectory(partitionPath);
    let min = batch.eventTimes[0]!;
    let max = min;
    for (const t of batch.eventTimes) {
      if (t < min) min = t;
      if (t > max) max = t;
    }
    return {
      path: `${partition}/${name}`,
      partition: day,
      rows: batch.length,
      bytes: bytes.length,
      firstPosition: String(first),
      lastPosition: String(last),
      minEventTime: min,
      maxEventTime: max,
      schemaVersion: Math.max(...batch.schemaVersions),
      committedAt: new Date().toISOString(),
    };
  }

  /**
   * Reads the scope's manifest and removes what a crash of this scope's writer left behind:
   * temporary files, and Parquet files its manifest does not list (written, renamed, but never
   * committed). Only files named for this scope: another scope's files, committed or in flight,
   * belong to a writer that may be running now. Scope 0 also removes Parquet and temporary files
   * no scope's name fits, as every writer did before scopes.
   */
  private async recover(dataset: string): Promise<Manifest> {
    const dir = this.datasetDir(dataset);
    const manifest = await readManifest(dir, dataset, this.partition);
    const live = new Set([...manifest.files.map((f) => f.path), ...manifest.retired.map((f) => f.path)]);
    for (const file of await listFiles(dir)) {
      const relative = path.relative(dir, file).split(path.sep).join('/');
      if (live.has(relative)) continue;
      if (!relative.endsWith(TEMP_SUFFIX) && !relative.endsWith('.parquet')) continue;
      const scope = scopeOfLakeFile(path.basename(file));
      if (scope === this.partition || (scope === undefined && this.partition === 0))
        await rm(file, { force: true });
    }
    return manifest;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.chains.values());
    await this.release();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

async function listFiles(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}
