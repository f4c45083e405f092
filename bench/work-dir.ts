import { mkdir, mkdtemp } from 'node:fs/promises';
import path from 'node:path';

/** A fresh directory for one benchmark under `.tierflow/` (created on a fresh clone), on the project's disk. */
export async function benchWorkDir(name: string): Promise<string> {
  const root = path.resolve('.tierflow');
  await mkdir(root, { recursive: true });
  return mkdtemp(path.join(root, `bench-${name}-`));
}
