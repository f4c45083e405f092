import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface SmallDisk extends AsyncDisposable {
  /** The mount point: a file system of its own, `size` big. */
  readonly dir: string;
}

/**
 * A small tmpfs mounted on a fresh directory, for the full-disk tests: a real ENOSPC, not an
 * injected one. Mounting needs root (CI runs as root). Where it cannot be mounted, the test is
 * skipped naming why, unless TIERFLOW_REQUIRE_SERVICES=1 (set in CI), where it fails. Disposing
 * unmounts it (lazily if a handle is still open) and removes the directory.
 */
export async function mountSmallDisk(
  size: string,
  test: { skip: (note?: string) => never },
): Promise<SmallDisk> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tierflow-small-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    const why = `cannot mount a ${size} tmpfs for the full-disk test (uid ${process.getuid?.()}): ${stderr || (error as Error).message}`;
    if (process.env.TIERFLOW_REQUIRE_SERVICES === '1')
      throw new Error(`${why} (TIERFLOW_REQUIRE_SERVICES=1)`, { cause: error });
    console.warn(`skipping: ${why}`);
    test.skip(why);
  }
  return {
    dir,
    async [Symbol.asyncDispose]() {
      try {
        execFileSync('umount', [dir], { stdio: ['ignore', 'ignore', 'pipe'] });
      } catch {
        execFileSync('umount', ['-l', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
