import type { Repositories } from '../hot/repositories.ts';
import type { FeedOptions, FeedRows } from './market-feed.ts';
import { marketFeed } from './market-feed.ts';

export interface FeedProgress {
  minute: number;
  minutes: number;
  rows: number;
}

export interface FeedSummary {
  rows: Record<string, number>;
  seconds: number;
}

type Key = keyof Repositories;

/**
 * Writes the synthetic feed through the repositories, in batches of up to `batchSize` rows per
 * dataset; batches of different datasets are written concurrently, one batch per dataset at a time.
 */
export async function runFeed(
  repositories: Repositories,
  options: FeedOptions & { batchSize: number },
  onProgress?: (progress: FeedProgress) => void,
): Promise<FeedSummary> {
  const started = performance.now();
  const buffers = new Map<Key, unknown[]>();
  const written: Record<string, number> = {};
  let total = 0;

  const flush = async (only?: (rows: unknown[]) => boolean) => {
    const pending: Promise<void>[] = [];
    for (const [key, rows] of buffers) {
      if (rows.length === 0 || (only && !only(rows))) continue;
      buffers.set(key, []);
      const repository = repositories[key] as {
        upsert(rows: readonly unknown[]): Promise<unknown>;
        dataset: { name: string };
      };
      pending.push(
        repository.upsert(rows).then(() => {
          written[repository.dataset.name] = (written[repository.dataset.name] ?? 0) + rows.length;
          total += rows.length;
        }),
      );
    }
    await Promise.all(pending);
  };

  for (const { minute, rows } of marketFeed(options)) {
    for (const [key, batch] of Object.entries(rows as FeedRows) as [Key, unknown[]][]) {
      const buffer = buffers.get(key) ?? [];
      buffer.push(...batch);
      buffers.set(key, buffer);
    }
    await flush((buffer) => buffer.length >= options.batchSize);
    onProgress?.({ minute: minute + 1, minutes: options.minutes, rows: total });
  }
  await flush();
  onProgress?.({ minute: options.minutes, minutes: options.minutes, rows: total });
  return { rows: written, seconds: (performance.now() - started) / 1000 };
}
