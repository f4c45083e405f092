import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { syncDirectory } from '../core/durable-fs.ts';
import type { Dataset } from '../core/index.ts';
import { META_COLUMNS } from './arrow-table.ts';
import type { LakeWriter } from './lake-writer.ts';
import { LakeWriteError } from './lake-writer.ts';
import type { Manifest, ManifestFile } from './manifest.ts';
import { readAllManifests } from './manifest.ts';
import { partitionDir } from './partition.ts';

export interface CompactionOptions {
  /** A partition is compacted when it has at least this many live files. Default 2. */
  minFiles?: number;
  /** Tombstones older than this (by ingestion) are dropped when their partition is compacted. Default 7 days. */
  tombstoneRetentionMs?: number;
  /** Retired files are deleted this long after compaction retired them. Default 10 minutes. */
  graceMs?: number;
  now?: () => number;
}

export interface CompactionResult {
  dataset: string;
  partitions: {
    partition: string;
    filesBefore: number;
    rowsBefore: number;
    rowsAfter: number;
    file: string;
  }[];
  deletedRetired: number;
}

const sqlText = (s: string) => `'${s.replaceAll("'", "''")}'`;
const ident = (s: string) => `"${s.replaceAll('"', '""')}"`;

/**
 * Merges the small files of each partition into one: the latest version of each key (highest
 * position wins), tombstones kept until their retention passes so a reader of older files never
 * sees a deleted row come back. The new file is committed in place of the old ones in one
 * manifest commit; the old files are retired, not deleted, until `graceMs` has passed, so a
 * query that listed them just before the swap still finds them.
 *
 * Only the writer's own scope (source partition) is compacted: its files, its manifest. Another
 * scope's live files are only read, to keep a tombstone whose key another scope also holds in
 * the same day (a key that moved scope with a switch of the topic feeding the lake): dropping it
 * would bring the other scope's older version back.
 */
export async function compactDataset(
  writer: LakeWriter,
  dataset: Dataset<unknown, unknown>,
  options: CompactionOptions = {},
): Promise<CompactionResult> {
  const minFiles = options.minFiles ?? 2;
  const tombstoneRetentionMs = options.tombstoneRetentionMs ?? 7 * 86_400_000;
  const graceMs = options.graceMs ?? 10 * 60_000;
  const now = options.now ?? Date.now;
  const result: CompactionResult = { dataset: dataset.name, partitions: [], deletedRetired: 0 };
  const manifest = await writer.manifest(dataset.name);
  const byPartition = new Map<string, ManifestFile[]>();
  for (const f of manifest.files) byPartition.set(f.partition, [...(byPartition.get(f.partition) ?? []), f]);
  const dir = writer.datasetDir(dataset.name);
  const otherScopes = (await readAllManifests(dir, dataset.name)).filter(
    (m) => (m.partition ?? 0) !== writer.partition,
  );

  for (const [partition, files] of byPartition) {
    if (files.length < minFiles) continue;
    // With the event time outside the key, older versions of a key can sit in other partitions:
    // dropping its tombstone would bring them back, so tombstones are kept for good there.
    const tombstoneCutoff = dataset.primaryKey.includes(dataset.eventTime)
      ? now() - tombstoneRetentionMs
      : Number.NEGATIVE_INFINITY;
    const others = otherScopes.flatMap((m) =>
      m.files.filter((f) => f.partition === partition).map((f) => path.join(dir, f.path)),
    );
    const merged = await mergePartition(writer, dataset, partition, files, tombstoneCutoff, others);
    await writer.transact(dataset.name, async (current) => {
      const stillLive = files.every((f) => current.files.some((c) => c.path === f.path));
      if (!stillLive) {
        await rm(path.join(dir, merged.file.path), { force: true });
        throw new LakeWriteError(
          `${dataset.name} ${partition}: the files changed during compaction; run it again`,
          undefined,
          true,
        );
      }
      const retiredAt = new Date(now()).toISOString();
      return {
        ...current,
        files: [...current.files.filter((c) => !files.some((f) => f.path === c.path)), merged.file],
        retired: [
          ...current.retired,
          ...files.filter((f) => f.path !== merged.file.path).map((f) => ({ path: f.path, retiredAt })),
        ],
      };
    });
    result.partitions.push({
      partition,
      filesBefore: files.length,
      rowsBefore: files.reduce((s, f) => s + f.rows, 0),
      rowsAfter: merged.file.rows,
      file: merged.file.path,
    });
  }
  result.deletedRetired = await purgeRetired(writer, dataset.name, now() - graceMs);
  return result;
}

async function mergePartition(
  writer: LakeWriter,
  dataset: Dataset<unknown, unknown>,
  partition: string,
  files: ManifestFile[],
  tombstoneCutoffMs: number,
  /** Other scopes' live files of this day: a tombstone of a key they hold is kept. */
  otherScopeFiles: readonly string[],
): Promise<{ file: ManifestFile }> {
  const dir = writer.datasetDir(dataset.name);
  const first = files.reduce(
    (m, f) => (BigInt(f.firstPosition) < m ? BigInt(f.firstPosition) : m),
    BigInt(files[0]!.firstPosition),
  );
  const last = files.reduce(
    (m, f) => (BigInt(f.lastPosition) > m ? BigInt(f.lastPosition) : m),
    BigInt(files[0]!.lastPosition),
  );
  const name = writer.fileName(dataset.name, first, last);
  const partitionPath = path.join(dir, partitionDir(partition));
  const temp = path.join(partitionPath, `.${name}.${randomBytes(4).toString('hex')}.tmp`);
  const sources = files.map((f) => sqlText(path.join(dir, f.path))).join(', ');
  const columns = [...dataset.columns.map((c) => c.name), ...META_COLUMNS].map(ident).join(', ');
  const key = dataset.primaryKey.map(ident).join(', ');
  const db = await DuckDBInstance.create(':memory:');
  const connection = await db.connect();
  let stats: { rows: number; minEventTime: string; maxEventTime: string; schemaVersion: number };
  try {
    const latest =
      `SELECT ${columns} FROM read_parquet([${sources}], union_by_name = true) ` +
      `QUALIFY row_number() OVER (PARTITION BY ${key} ORDER BY _position DESC) = 1`;
    let keepTombstones = Number.isFinite(tombstoneCutoffMs)
      ? `epoch_ms(_ingested_at) >= ${Math.floor(tombstoneCutoffMs)}`
      : 'true';
    if (keepTombstones !== 'true' && otherScopeFiles.length > 0) {
      const others = otherScopeFiles.map(sqlText).join(', ');
      const match = dataset.primaryKey.map((k) => `o.${ident(k)} = t.${ident(k)}`).join(' AND ');
      keepTombstones += ` OR EXISTS (SELECT 1 FROM read_parquet([${others}], union_by_name = true) o WHERE ${match})`;
    }
    const kept = `SELECT * FROM (${latest}) t WHERE _op <> 'd' OR ${keepTombstones} ORDER BY _position`;
    await connection.run(`COPY (${kept}) TO ${sqlText(temp)} (FORMAT parquet, COMPRESSION zstd)`);
    const time = ident(dataset.eventTime);
    const row = (
      await connection.runAndReadAll(
        `SELECT count(*)::INTEGER, strftime(min(${time}) AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ'), strftime(max(${time}) AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ'), coalesce(max(_schema_version), 0)::INTEGER FROM read_parquet(${sqlText(temp)})`,
      )
    ).getRows()[0]!;
    stats = {
      rows: Number(row[0]),
      minEventTime: String(row[1]),
      maxEventTime: String(row[2]),
      schemaVersion: Number(row[3]),
    };
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  } finally {
    connection.closeSync();
    db.closeSync();
  }
  const handle = await open(temp, 'r+');
  let bytes: number;
  try {
    await handle.datasync();
    bytes = (await handle.stat()).size;
  } finally {
    await handle.close();
  }
  await rename(temp, path.join(partitionPath, name));
  await syncDirectory(partitionPath);
  return {
    file: {
      path: `${partitionDir(partition)}/${name}`,
      partition,
      rows: stats.rows,
      bytes,
      firstPosition: String(first),
      lastPosition: String(last),
      minEventTime: stats.minEventTime,
      maxEventTime: stats.maxEventTime,
      schemaVersion: stats.schemaVersion,
      committedAt: new Date().toISOString(),
    },
  };
}

/** Deletes retired files whose grace period has passed, then drops them from the manifest. */
async function purgeRetired(writer: LakeWriter, dataset: string, cutoffMs: number): Promise<number> {
  const due = (await writer.manifest(dataset)).retired.some((r) => Date.parse(r.retiredAt) <= cutoffMs);
  if (!due) return 0;
  let deleted = 0;
  await writer.transact(dataset, async (manifest: Manifest, dir: string) => {
    const expired = manifest.retired.filter((r) => Date.parse(r.retiredAt) <= cutoffMs);
    for (const r of expired) {
      await rm(path.join(dir, r.path), { force: true });
      deleted++;
    }
    return { ...manifest, retired: manifest.retired.filter((r) => !expired.includes(r)) };
  });
  return deleted;
}
