import type { Log } from '../log/log.ts';
import type { Checkpoint } from './checkpoints.ts';
import { WalBehindCheckpointError, WalLogMismatchError } from './checkpoints.ts';

/**
 * Checks that the checkpoint was made from this log: the topic exists, and the entry at the
 * checkpoint's position, where the log still holds it, was logged when the checkpoint says.
 * Throws WalBehindCheckpointError or WalLogMismatchError otherwise. A
 * checkpoint from before the time was kept, or whose entry retention has dropped, passes.
 */
export async function verifyCheckpointLog(log: Log, topic: string, checkpoint: Checkpoint): Promise<void> {
  // A checkpoint and no topic at all: this log is not the one the checkpoint was made from.
  if (!(await log.topics()).includes(topic))
    throw new WalBehindCheckpointError(topic, checkpoint.position, undefined);
  if (checkpoint.entryLoggedAt === undefined) return;
  for await (const batch of log.read(topic, {
    from: checkpoint.position,
    follow: false,
    maxBatchEntries: 1,
  })) {
    const entry = batch[0];
    if (entry?.position === checkpoint.position && entry.timestamp !== checkpoint.entryLoggedAt)
      throw new WalLogMismatchError(topic, checkpoint, entry.timestamp);
    return;
  }
}
