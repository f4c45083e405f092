import { spawnSync } from 'node:child_process';

/** Runs `tierflow <args>` from this checkout to completion: exit code and trimmed output. */
export function runTierflow(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['bin/tierflow.js', ...args], { encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout.trim(), stderr: result.stderr.trim() };
}
