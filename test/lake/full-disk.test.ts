import { mkdtemp, readdir, rm, stat, statfs, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { marketData } from '../../src/datasets/index.ts';
import { LakeWriteError, LakeWriter } from '../../src/lake/lake-writer.ts';
import { MANIFEST_FILE, readManifest } from '../../src/lake/manifest.ts';
import { mountSmallDisk } from '../support/small-disk.ts';
import { bars } from './fixtures.ts';

/** Every file under the dataset's directory, relative to it. */
async function filesOf(datasetDir: string): Promise<string[]> {
  const entries = await readdir(datasetDir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(datasetDir, path.join(e.parentPath, e.name)))
    .sort();
}

/** Fills the file system: writes until ENOSPC, leaving what fitted. Returns the filler's path. */
async function fill(dir: string): Promise<string> {
  const filler = path.join(dir, 'filler');
  const error = await writeFile(filler, Buffer.alloc(4 * 1024 * 1024, 1)).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toMatchObject({ code: 'ENOSPC' });
  return filler;
}

/**
 * A batch size whose Parquet file (after a first batch of 10) ends well inside a page of `bsize`,
 * and that file's size: measured by writing it to a scratch lake.
 */
async function measureBatch(bsize: number): Promise<{ rows: number; fileBytes: number }> {
  const scratch = await mkdtemp(path.join(tmpdir(), 'tierflow-lake-measure-'));
  try {
    for (let rows = 100; rows < 2000; rows += 37) {
      const measuring = await LakeWriter.open(path.join(scratch, String(rows)));
      try {
        await measuring.write(marketData, bars(0, 10));
        const [file] = (await measuring.write(marketData, bars(10, rows))).files;
        const fileBytes = file!.bytes;
        if (fileBytes % bsize > 512 && fileBytes % bsize < bsize - 512) return { rows, fileBytes };
      } finally {
        await measuring.close();
      }
    }
    throw new Error(`no batch size found whose Parquet file ends inside a ${bsize}-byte page`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

describe('lake writer on a real full disk (tmpfs)', () => {
  it('fails with a retriable LakeWriteError, commits nothing, leaves no file behind, and writes the batch once space returns', async (test) => {
    await using disk = await mountSmallDisk('1m', test);
    const root = path.join(disk.dir, 'lake');
    const datasetDir = path.join(root, 'market_data');
    const writer = await LakeWriter.open(root);
    try {
      await writer.write(marketData, bars(0, 10));
      const before = await readManifest(datasetDir, 'market_data');
      const filesBefore = await filesOf(datasetDir);
      expect(filesBefore).toEqual([MANIFEST_FILE, ...before.files.map((f) => f.path)].sort());

      const filler = await fill(disk.dir);
      const failure = await writer.write(marketData, bars(10, 500)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(failure).toBeInstanceOf(LakeWriteError);
      expect(failure).toMatchObject({ code: 'LAKE_WRITE', retriable: true });
      expect((failure as Error).message).toMatch(/^market_data: writing the lake failed: .*no space left/i);
      expect((failure as Error).cause).toMatchObject({ code: 'ENOSPC' });

      // Nothing committed, nothing half written: the manifest on disk and the writer's are the
      // old ones, and no Parquet or temporary file is left.
      expect(await readManifest(datasetDir, 'market_data')).toEqual(before);
      expect(await writer.manifest('market_data')).toEqual(before);
      expect(await filesOf(datasetDir)).toEqual(filesBefore);

      // Still full: the retry fails the same way and leaves the same state.
      await expect(writer.write(marketData, bars(10, 500))).rejects.toMatchObject({ retriable: true });
      expect(await filesOf(datasetDir)).toEqual(filesBefore);

      await rm(filler);
      const commit = await writer.write(marketData, bars(10, 500));
      expect(commit).toMatchObject({ written: 500, skipped: 0, manifestVersion: before.version + 1 });
    } finally {
      await writer.close();
    }

    // A new writer finds the batch committed once and nothing else.
    const reopened = await LakeWriter.open(root);
    try {
      const manifest = await reopened.manifest('market_data');
      expect(manifest.lastPosition).toBe('509');
      expect(manifest.files.reduce((n, f) => n + f.rows, 0)).toBe(510);
      expect(await filesOf(datasetDir)).toEqual([MANIFEST_FILE, ...manifest.files.map((f) => f.path)].sort());
      expect(await reopened.write(marketData, bars(10, 500))).toMatchObject({ written: 0, skipped: 500 });
    } finally {
      await reopened.close();
    }
  });

  it('removes the Parquet file it renamed into place when the manifest commit then fails for space', async (test) => {
    await using disk = await mountSmallDisk('1m', test);
    const root = path.join(disk.dir, 'lake');
    const datasetDir = path.join(root, 'market_data');
    const { bsize } = await statfs(disk.dir);
    // A batch whose Parquet file ends well inside a page, measured on a scratch lake: the disk
    // gets exactly the pages that file needs, so the manifest commit after it finds none.
    const { rows, fileBytes } = await measureBatch(bsize);
    const pages = Math.ceil(fileBytes / bsize);

    const writer = await LakeWriter.open(root);
    try {
      await writer.write(marketData, bars(0, 10));
      const before = await readManifest(datasetDir, 'market_data');
      const filesBefore = await filesOf(datasetDir);
      const filler = await fill(disk.dir);
      await truncate(filler, (await stat(filler)).size - pages * bsize);
      expect((await statfs(disk.dir)).bavail).toBe(pages);

      const failure = await writer.write(marketData, bars(10, rows)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(failure).toBeInstanceOf(LakeWriteError);
      expect(failure).toMatchObject({ code: 'LAKE_WRITE', retriable: true });
      expect(await readManifest(datasetDir, 'market_data')).toEqual(before);
      expect(await filesOf(datasetDir)).toEqual(filesBefore);
      // The space the Parquet file took is back: it was removed, not left for the next open.
      expect((await statfs(disk.dir)).bavail).toBe(pages);

      await rm(filler);
      expect(await writer.write(marketData, bars(10, rows))).toMatchObject({ written: rows });
    } finally {
      await writer.close();
    }
  });
});
