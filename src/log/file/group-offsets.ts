import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../../core/durable-fs.ts';

/**
 * Committed positions of consumer groups on one topic, in `groups.json` beside its segments,
 * replaced atomically on every commit. Commits are serialised so two never race on the file.
 */
export class GroupOffsets {
  private offsets = new Map<string, bigint>();
  private chain: Promise<void> = Promise.resolve();

  private constructor(private readonly file: string) {}

  static async load(topicDir: string): Promise<GroupOffsets> {
    const store = new GroupOffsets(path.join(topicDir, 'groups.json'));
    try {
      const data = JSON.parse(await readFile(store.file, 'utf8')) as Record<string, string>;
      for (const [group, offset] of Object.entries(data)) store.offsets.set(group, BigInt(offset));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    return store;
  }

  get(group: string): bigint | undefined {
    return this.offsets.get(group);
  }

  /** The lowest committed offset over all groups, or undefined when no group committed. */
  lowest(): bigint | undefined {
    let low: bigint | undefined;
    for (const offset of this.offsets.values()) if (low === undefined || offset < low) low = offset;
    return low;
  }

  commit(group: string, offset: bigint): Promise<void> {
    const next = this.chain.then(async () => {
      const updated = new Map(this.offsets).set(group, offset);
      await writeFileAtomic(
        this.file,
        JSON.stringify(Object.fromEntries([...updated].map(([g, o]) => [g, String(o)]))),
      );
      this.offsets = updated;
    });
    // The caller gets the failure through `next`; the chain only orders the next commit after it.
    this.chain = next.catch(() => undefined);
    return next;
  }
}
