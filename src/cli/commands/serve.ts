import path from 'node:path';
import type { Command } from 'commander';
import { defaultLogSpec, openLog } from '../../log/open-log.ts';
import { PrometheusMetrics } from '../../observe/prometheus.ts';
import { startStage1 } from '../../pipeline/stage1.ts';
import { startStatusServer } from '../../server/http-server.ts';
import type { TierflowMode } from '../../tierflow.ts';
import { createTierflow, resolveConfig } from '../../tierflow.ts';
import { startStage2 } from '../../wal/stage2.ts';
import { configFrom, globalOptions } from '../context.ts';

/**
 * `tierflow serve`: the long-running side of tierflow. Serves /metrics and /health; in dual-write
 * mode runs stage 1's relay and cold consumer, in WAL mode stage 2's hot and cold processors, until
 * SIGINT or SIGTERM, then stops them gracefully (buffered rows are written and committed first).
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
    .option(
      '--log <spec>',
      'file:<dir>, redis://… or nats://… (default: $TIERFLOW_LOG or file:<data dir>/log)',
    )
    .option('--lake <dir>', 'lake root (default: $TIERFLOW_LAKE or <data dir>/lake)')
    .action(
      async (
        options: { port: number; host: string; mode?: string; log?: string; lake?: string },
        command: Command,
      ) => {
        const config = configFrom(globalOptions(command));
        const dataDir = resolveConfig(config).dataDir;
        const metrics = new PrometheusMetrics();
        const mode = (options.mode ?? resolveConfig(config).mode) as TierflowMode;
        const report = (error: unknown) =>
          process.stderr.write(`tierflow serve: ${(error as Error).message}\n`);
        const lakeRoot = options.lake ?? process.env.TIERFLOW_LAKE ?? path.join(dataDir, 'lake');
        const log =
          mode === 'hot-only'
            ? undefined
            : await openLog(options.log ?? defaultLogSpec(dataDir), { metrics });
        const tf = await createTierflow({ ...config, metrics, mode, log, onBackgroundError: report });
        const stage = !log
          ? undefined
          : tf.wal
            ? await startStage2({ wal: tf.wal, lakeRoot, metrics, onError: report })
            : await startStage1({ tf, log, lakeRoot, metrics, onError: report });
        const server = await startStatusServer({
          port: options.port,
          host: options.host,
          metrics,
          health: async () => {
            const status = await stage?.status();
            const breakers = status
              ? [status.coldBreaker, 'hotBreaker' in status ? status.hotBreaker : 'closed']
              : [];
            return { healthy: breakers.every((b) => b === 'closed'), mode: tf.mode, ...status };
          },
        });
        console.log(
          `tierflow serve: ${tf.mode} mode, http://${options.host}:${server.port}/metrics and /health; Ctrl-C stops`,
        );
        await new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        await server.close();
        await stage?.stop();
        await tf.close();
        await log?.close();
        console.log('tierflow serve: stopped');
      },
    );
}
