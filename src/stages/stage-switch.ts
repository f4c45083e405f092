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
  private switching: Promise<void> = Promise.resolve();
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

  /**
   * Switches the running stage. Switches are serialised. If the new stage cannot start, the old one
   * is started again and the error is thrown; if that fails too, writes stay held and both errors
   * are thrown: writing on without a stage would pile up work nobody carries to the lake.
   */
  switchTo(mode: SwitchMode, options: { timeoutMs?: number; maxBatchMs?: number } = {}): Promise<void> {
    const next = this.switching.then(() => this.switchNow(mode, options));
    this.switching = next.catch(() => undefined);
    return next;
  }

  private async switchNow(mode: SwitchMode, options: { timeoutMs?: number; maxBatchMs?: number }) {
    if (mode === this.current) return;
    const previous = this.current;
    await this.writer.pause();
    await this.stage!.waitCaughtUp(options.timeoutMs ?? 120_000).catch((error: unknown) => {
      // Not drained: stay on the running stage.
      this.writer.resume(this.writerOf(previous));
      throw error;
    });
    await this.stage!.stop();
    this.stage = undefined;
    try {
      this.stage = await this.startStage(mode, options.maxBatchMs);
      this.current = mode;
    } catch (error) {
      try {
        this.stage = await this.startStage(previous, options.maxBatchMs);
      } catch (again) {
        throw new AggregateError(
          [error, again],
          `could not start ${mode}, nor ${previous} again: writes stay held`,
          { cause: again },
        );
      }
      this.writer.resume(this.writerOf(previous));
      throw error;
    }
    this.writer.resume(this.writerOf(mode));
  }

  private writerOf(mode: SwitchMode) {
    return mode === 'wal' ? this.wal.writer : this.dual.writer;
  }

  async close(): Promise<void> {
    await this.stage?.stop();
    await this.wal.close();
    await this.dual.close();
  }
}
