import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createFileLog } from '../../src/log/file/index.ts';
import type { Log } from '../../src/log/log.ts';
import { logConformance } from './conformance.ts';

logConformance('file', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tierflow-log-'));
  let current: Log | undefined;
  return {
    // Small segments, so retention has sealed segments to drop.
    open: async () => (current = await createFileLog(dir, { segmentBytes: 8 * 1024 })),
    cleanup: async () => {
      await current?.close();
      await rm(dir, { recursive: true, force: true });
    },
    maxPayloadBytes: 8 * 1024 * 1024,
  };
});
