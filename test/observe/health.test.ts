import { describe, expect, it } from 'vitest';
import type { PipelineState } from '../../src/core/index.ts';
import type { HealthProbe } from '../../src/server/health.ts';
import { aggregate, HealthMonitor, judgeBreaker, judgePipeline } from '../../src/server/health.ts';
import { stageProbe } from '../../src/server/health-probes.ts';
import {
  DEFAULT_HEALTH_TIMEOUT_MS,
  DEFAULT_MAX_LAG_SECONDS,
  healthSettings,
} from '../../src/server/tierflow-health.ts';

const pipeline = (over: Partial<PipelineState> = {}): PipelineState => ({
  name: 'cold-consumer',
  failing: undefined,
  lagSeconds: 1.5,
  active: true,
  ...over,
});

describe('health aggregation', () => {
  it('is healthy only when every check passed, and a probe that threw is one failed check under its name', () => {
    const ok = { ok: true, detail: 'fine' };
    expect(aggregate([{ name: 'postgres', checks: { postgres: ok } }])).toEqual({
      healthy: true,
      checks: { postgres: ok },
    });
    const report = aggregate([
      { name: 'postgres', checks: { postgres: ok } },
      { name: 'log', error: new Error('disk full') },
    ]);
    expect(report).toEqual({
      healthy: false,
      checks: { postgres: ok, log: { ok: false, detail: 'disk full' } },
    });
    const oneBad = aggregate([{ name: 'stage', checks: { a: ok, b: { ok: false, detail: 'open' } } }]);
    expect(oneBad.healthy).toBe(false);
  });

  it('is not healthy with nothing checked', () => {
    expect(aggregate([]).healthy).toBe(false);
  });

  it('fails a pipeline that is failing (stopped included), or lags past the threshold, and passes one on standby', () => {
    expect(judgePipeline(pipeline(), 300)).toEqual({ ok: true, detail: 'lag 1.5 s' });
    expect(judgePipeline(pipeline({ lagSeconds: 300 }), 300).ok).toBe(true);
    expect(judgePipeline(pipeline({ lagSeconds: 300.5 }), 300)).toEqual({
      ok: false,
      detail: 'lag 300.5 s, over the 300 s threshold',
    });
    expect(judgePipeline(pipeline({ failing: 'lake: EIO' }), 300)).toEqual({
      ok: false,
      detail: 'failing: lake: EIO',
    });
    expect(judgePipeline(pipeline({ active: false, lagSeconds: 9_999 }), 300)).toEqual({
      ok: true,
      detail: 'standby: another process runs it',
    });
    // Stopped on an error no retry helps: inactive, and failing.
    expect(judgePipeline(pipeline({ active: false, failing: 'stopped: manifest corrupt' }), 300)).toEqual({
      ok: false,
      detail: 'failing: stopped: manifest corrupt',
    });
  });

  it('passes a breaker only when closed', () => {
    expect(judgeBreaker('closed').ok).toBe(true);
    expect(judgeBreaker('open')).toEqual({ ok: false, detail: 'open' });
    expect(judgeBreaker('half-open').ok).toBe(false);
  });

  it('names a check per pipeline and breaker of a stage, with the status as data', async () => {
    const probe = stageProbe(
      async () => ({
        pipelines: [pipeline(), pipeline({ name: 'outbox-relay', lagSeconds: 400 })],
        breakers: { hot: 'closed', cold: 'open' },
        status: { caughtUp: false },
      }),
      300,
    );
    const report = aggregate([{ name: probe.name, checks: await probe.run() }]);
    expect(report.healthy).toBe(false);
    expect(report.checks.stage).toMatchObject({ ok: true, data: { caughtUp: false } });
    expect(Object.fromEntries(Object.entries(report.checks).map(([k, v]) => [k, v.ok]))).toEqual({
      stage: true,
      'pipeline:cold-consumer': true,
      'pipeline:outbox-relay': false,
      'breaker:hot': true,
      'breaker:cold': false,
    });
  });
});

describe('HealthMonitor', () => {
  it('answers within the timeout when a probe hangs, and joins the hanging probe instead of starting another', async () => {
    let started = 0;
    let finish!: () => void;
    const hanging: HealthProbe = {
      name: 'postgres',
      run() {
        started++;
        return new Promise((resolve) => {
          finish = () => resolve({ postgres: { ok: true, detail: 'late' } });
        });
      },
    };
    const quick: HealthProbe = { name: 'log', run: async () => ({ log: { ok: true, detail: 'ok' } }) };
    const monitor = new HealthMonitor([hanging, quick], 50);
    const first = await monitor.report();
    expect(first).toEqual({
      healthy: false,
      checks: {
        postgres: { ok: false, detail: 'no answer within 50 ms' },
        log: { ok: true, detail: 'ok' },
      },
    });
    await monitor.report();
    expect(started).toBe(1);
    finish();
    expect((await monitor.report()).healthy).toBe(true);
    // Settled, the probe runs afresh on the next report.
    const again = monitor.report();
    finish();
    expect((await again).healthy).toBe(true);
    expect(started).toBe(2);
  });

  it('reports a probe that throws as a failed check with its message', async () => {
    const monitor = new HealthMonitor(
      [
        {
          name: 'log',
          run: async () => {
            throw new Error('EROFS: read-only file system');
          },
        },
      ],
      1_000,
    );
    expect(await monitor.report()).toEqual({
      healthy: false,
      checks: { log: { ok: false, detail: 'EROFS: read-only file system' } },
    });
  });
});

describe('healthSettings', () => {
  it('takes the options, else the environment, else the defaults, and refuses what is not a positive number', () => {
    expect(healthSettings({}, {})).toEqual({
      maxLagSeconds: DEFAULT_MAX_LAG_SECONDS,
      timeoutMs: DEFAULT_HEALTH_TIMEOUT_MS,
    });
    const env = { TIERFLOW_HEALTH_MAX_LAG_SECONDS: '60', TIERFLOW_HEALTH_TIMEOUT_MS: '500' };
    expect(healthSettings({}, env)).toEqual({ maxLagSeconds: 60, timeoutMs: 500 });
    expect(healthSettings({ maxLagSeconds: '30' }, env)).toEqual({ maxLagSeconds: 30, timeoutMs: 500 });
    expect(() => healthSettings({ maxLagSeconds: 'soon' }, {})).toThrow(
      '--max-lag-seconds must be a positive number, not "soon"',
    );
    expect(() => healthSettings({}, { TIERFLOW_HEALTH_TIMEOUT_MS: '0' })).toThrow(
      /TIERFLOW_HEALTH_TIMEOUT_MS/,
    );
  });
});
