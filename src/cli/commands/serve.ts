import path from 'node:path';
import type { Command } from 'commander';
import type { Log } from '../../log/log.ts';
import { defaultLogSpec, openLog } from '../../log/open-log.ts';
import { PrometheusMetrics } from '../../observe/prometheus.ts';
import { startStage1 } from '../../pipeline/stage1.ts';
import { startStatusServer } from '../../server/http-server.ts';
import type { StageView } from '../../server/health-probes.ts';
import { stage1View, stage2View } from '../../server/stage-views.ts';
import type { TierflowHealthReport } from '../../server/tierflow-health.ts';
import { healthSettings, tierflowHealth } from '../../server/tierflow-health.ts';
import type { Tierflow, TierflowMode } from '../../tierflow.ts';
import { createTierflow, resolveConfig } from '../../tierflow.ts';
import { startStage2 } from '../../wal/stage2.ts';
import { configFrom, globalOptions } from '../context.ts';
import { runAll } from '../../core/index.ts';
import { LOG_SPEC_HELP } from '../log-spec-help.ts';

interface ServeOptions {
  port: number;
  host: string;
  mode?: string;
  log?: string;
  lake?: string;
  maxLagSeconds?: string;
  healthTimeoutMs?: string;
}

/**
 * `tierflow serve`: the long-running side of tierflow. Serves /metrics and /health; in dual-write
 * mode runs stage 1's relay and cold consumer, in WAL mode stage 2's hot and cold processors, until
 * SIGINT or SIGTERM, then stops them gracefully (buffered rows are written and committed first).
 * The port is taken first, so a port in use fails at once (PortInUseError) before anything starts;
 * /health answers 503 "starting" until everything runs.
 */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description(
      'serve /metrics and /health; in dual-write mode also run the outbox relay and the cold consumer, in wal mode the hot and cold processors',
    )
    .option('--port <n>', 'HTTP port', (v) => Number.parseInt(v, 10), 9464)
    .option('--host <host>', 'HTTP address', '127.0.0.1')
    .option('--mode <mode>', 'hot-only, dual-write or wal (default: $TIERFLOW_MODE or hot-only)')
    .option('--log <spec>', LOG_SPEC_HELP)
    .option('--lake <dir>', 'lake root (default: $TIERFLOW_LAKE or <data dir>/lake)')
    .option(
      '--max-lag-seconds <n>',
      '/health fails when a pipeline lags more than this (default: $TIERFLOW_HEALTH_MAX_LAG_SECONDS or 300)',
    )
    .option(
      '--health-timeout-ms <n>',
      'bound of each /health check (default: $TIERFLOW_HEALTH_TIMEOUT_MS or 2000)',
    )
    .action(async (options: ServeOptions, command: Command) => {
      const config = configFrom(globalOptions(command));
      const resolved = resolveConfig(config);
      const mode = (options.mode ?? resolved.mode) as TierflowMode;
      const settings = healthSettings({
        maxLagSeconds: options.maxLagSeconds,
        timeoutMs: options.healthTimeoutMs,
      });
      const metrics = new PrometheusMetrics();
      const report = (error: unknown) =>
        process.stderr.write(`tierflow serve: ${(error as Error).message}\n`);
      const lakeRoot = options.lake ?? process.env.TIERFLOW_LAKE ?? path.join(resolved.dataDir, 'lake');

      let health = async (): Promise<TierflowHealthReport> => ({
        healthy: false,
        mode,
        checks: { startup: { ok: false, detail: 'starting: PostgreSQL, the log and the pipelines' } },
      });
      const server = await startStatusServer({
        port: options.port,
        host: options.host,
        metrics,
        health: () => health(),
      });
      // Closed in reverse order of opening, also when starting fails half-way; the server first,
      // so no /health runs on what is being closed.
      const opened: Array<() => Promise<void>> = [];
      const stopAll = () => runAll([() => server.close(), ...opened.reverse()], 'tierflow serve: stopping');
      try {
        let log: Log | undefined;
        if (mode !== 'hot-only') {
          const logOpened = await openLog(options.log ?? defaultLogSpec(resolved.dataDir), { metrics });
          log = logOpened;
          opened.push(() => logOpened.close());
        }
        const tf: Tierflow = await createTierflow({
          ...config,
          metrics,
          mode,
          log,
          onBackgroundError: report,
        });
        opened.push(() => tf.close());
        let view: (() => Promise<StageView>) | undefined;
        if (log && tf.wal) {
          const stage = await startStage2({ wal: tf.wal, lakeRoot, metrics, onError: report });
          opened.push(() => stage.stop());
          view = stage2View(stage);
        } else if (log) {
          const stage = await startStage1({ tf, log, lakeRoot, metrics, onError: report });
          opened.push(() => stage.stop());
          view = stage1View(stage);
        }
        health = tierflowHealth({ mode: tf.mode, pool: tf.hot.pool, log, stage: view, settings });
        console.log(
          `tierflow serve: ${tf.mode} mode, http://${options.host}:${server.port}/metrics and /health; Ctrl-C stops`,
        );
        await new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
      } catch (error) {
        // The failure to start is the one to report; one of stopping after it is told on stderr.
        await stopAll().catch(report);
        throw error;
      }
      await stopAll();
      console.log('tierflow serve: stopped');
    });
}
