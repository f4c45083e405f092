import { buildRepositories } from '../hot/build-repositories.ts';
import type { Repositories } from '../hot/repositories.ts';
import type { Log } from '../log/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { Stage1 } from '../pipeline/stage1.ts';
import { startStage1 } from '../pipeline/stage1.ts';
import type { Tierflow, TierflowConfig } from '../tierflow.ts';
import { createTierflow } from '../tierflow.ts';
import type { Stage2 } from '../wal/stage2.ts';
import { startStage2 } from '../wal/stage2.ts';
import { SwitchableWriter } from './switchable-writer.ts';

export type SwitchMode = 'dual-write' | 'wal';

/**
 * Stages 1 and 2 side by side on one PostgreSQL schema, one log and one lake, with the
 * repositories switching between them under load (docs/stage-switch.md). A switch holds new
 * writes, lets those under way finish, drains the running stage until both tiers hold everything
 * it acknowledged, stops it, starts the other and lets the held writes through. Draining first is
 * what keeps the tiers in order: no WAL entry is applied after a newer dual write of its key, no
 * stage-1 event reaches the lake after the WAL took over, and the lake starts the new topic's run
 * above everything it holds (lake/position-map.ts).
 */
export class StageSwitch {
  private stage: Stage1 | Stage2 | undefined;
  readonly repositories: Repositories;

  private constructor(
    private readonly dual: Tierflow,
    private readonly wal: Tierflow,
    private readonly writer: SwitchableWriter,
    private readonly options: {
      log: Log;
      lakeRoot: string;
      metrics?: Metrics;
      onError?: (e: unknown) => void;
    },
    private current: SwitchMode,
  ) {
    this.repositories = buildRepositories(writer, dual.hot);
  }

  static async start(
    config: TierflowConfig & {
      log: Log;
      lakeRoot: string;
      mode: SwitchMode;
      maxBatchMs?: number;
      onError?: (e: unknown) => void;
    },
  ): Promise<StageSwitch> {
    const { log, lakeRoot, mode, onError, ...rest } = config;
    const dual = await createTierflow({ ...rest, mode: 'dual-write' });
    const wal = await createTierflow({ ...rest, mode: 'wal', log, onBackgroundError: onError });
    const writer = new SwitchableWriter(mode === 'wal' ? wal.writer : dual.writer);
    const s = new StageSwitch(dual, wal, writer, { log, lakeRoot, metrics: config.metrics, onError }, mode);
    s.stage = await s.startStage(mode, config.maxBatchMs);
    return s;
  }

  get mode(): SwitchMode {
    return this.current;
  }

  private startStage(mode: SwitchMode, maxBatchMs?: number): Promise<Stage1 | Stage2> {
    const { log, lakeRoot, metrics, onError } = this.options;
    return mode === 'wal'
      ? startStage2({ wal: this.wal.wal!, lakeRoot, metrics, maxBatchMs, onError })
      : startStage1({ tf: this.dual, log, lakeRoot, metrics, maxBatchMs, onError });
  }

  /** Resolves once the running stage has put everything acknowledged so far into both tiers. */
  waitCaughtUp(timeoutMs?: number): Promise<void> {
    return this.stage!.waitCaughtUp(timeoutMs);
  }

  async switchTo(mode: SwitchMode, options: { timeoutMs?: number; maxBatchMs?: number } = {}): Promise<void> {
    if (mode === this.current) return;
    await this.writer.pause();
    try {
      await this.stage!.waitCaughtUp(options.timeoutMs ?? 120_000);
      await this.stage!.stop();
      this.stage = undefined;
      this.stage = await this.startStage(mode, options.maxBatchMs);
      this.current = mode;
    } finally {
      // On failure the held writes go on through the stage that was running (or fail loudly if
      // it was already stopped: its writer then publishes through the outbox or appends to the WAL).
      this.writer.resume(this.current === 'wal' ? this.wal.writer : this.dual.writer);
    }
  }

  async close(): Promise<void> {
    await this.stage?.stop();
    await this.wal.close();
    await this.dual.close();
  }
}
