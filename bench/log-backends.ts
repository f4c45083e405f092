import type { Log } from '../src/log/log.ts';

export interface BenchBackend {
  name: string;
  open(): Promise<Log>;
  cleanup?(): Promise<void>;
  entries: number;
}

/** The server-backed logs reachable here; the ones that are not are listed in `skipped`. */
export async function logBackends(): Promise<BenchBackend[]> {
  return [];
}
logBackends.skipped = [] as string[];
