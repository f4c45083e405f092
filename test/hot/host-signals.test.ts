import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { closeOnSignal, handleSignals } from '../../src/cli/signals.ts';
import { EmbeddedPostgresServer } from '../../src/hot/embedded-server.ts';

describe('a library host with its own SIGTERM handling', () => {
  const dataDir = path.resolve(`.tierflow/test-host-${randomBytes(4).toString('hex')}`);
  afterAll(async () => {
    await new EmbeddedPostgresServer(dataDir).stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function runHost(order: 'before' | 'after') {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/hot/fixtures/signal-host.ts', dataDir, order],
      { env: { ...process.env, DATABASE_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const lines: string[] = [];
    const ready = new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        lines.push(line);
        if (line === 'ready') resolve();
      });
      void exited.then(() => reject(new Error(`the host exited before it was ready: ${stderr}`)));
    });
    await ready;
    expect((await new EmbeddedPostgresServer(dataDir).status()).running).toBe(true);
    child.kill('SIGTERM');
    const { code, signal } = await exited;
    return { code, signal, lines, stderr };
  }

  it.each(['before', 'after'] as const)(
    'installs no signal listener, and the host (handler installed %s createTierflow) works on after SIGTERM',
    async (order) => {
      const { code, signal, lines, stderr } = await runHost(order);
      expect(stderr).toBe('');
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      // The host's own SIGTERM listener only (none once it has fired, if installed before).
      expect(lines[0]).toBe(`listeners SIGINT=0 SIGTERM=1`);
      expect(lines.slice(-2)).toEqual(['worked 1', 'closed']);
      // The host's close stopped the server this process started.
      expect((await new EmbeddedPostgresServer(dataDir).status()).running).toBe(false);
    },
  );
});

describe('the CLI as host: signals.ts', () => {
  let handling: ReturnType<typeof handleSignals> | undefined;
  afterEach(() => handling?.dispose());

  function install(graceMs = 5_000) {
    const exits: number[] = [];
    const lines: string[] = [];
    let exited!: () => void;
    const exitCalled = new Promise<void>((resolve) => (exited = resolve));
    handling = handleSignals({
      graceMs,
      exit: (code) => {
        exits.push(code);
        exited();
      },
      report: (line) => lines.push(line),
    });
    return { exits, lines, exitCalled };
  }

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('closes what the command registered on %s, then exits %i', async (signal, code) => {
    const { exits, exitCalled } = install();
    const closed: string[] = [];
    const unregister = closeOnSignal(async () => {
      closed.push('tierflow');
    });
    try {
      process.emit(signal, signal);
      await exitCalled;
      expect(closed).toEqual(['tierflow']);
      expect(exits).toEqual([code]);
      expect(handling!.received).toBe(signal);
    } finally {
      unregister();
    }
  });

  it('leaves the signal to a command that listens for it, and exits at once on a second one', () => {
    const { exits } = install();
    const closed: string[] = [];
    const unregister = closeOnSignal(async () => {
      closed.push('tierflow');
    });
    let stopping = 0;
    const own = () => stopping++;
    process.on('SIGINT', own);
    try {
      process.emit('SIGINT', 'SIGINT');
      expect(stopping).toBe(1);
      expect(closed).toEqual([]);
      expect(exits).toEqual([]);
      expect(handling!.received).toBeUndefined();
      process.emit('SIGINT', 'SIGINT');
      expect(exits).toEqual([130]);
    } finally {
      process.off('SIGINT', own);
      unregister();
    }
  });

  it('exits after three grace periods when a command that stops itself hangs', async () => {
    const { exits, lines, exitCalled } = install(20);
    const own = () => {}; // a serve whose stop never finishes
    process.on('SIGTERM', own);
    try {
      process.emit('SIGTERM', 'SIGTERM');
      expect(exits).toEqual([]);
      await exitCalled;
      expect(exits).toEqual([143]);
      expect(lines.at(-1)).toMatch(/still stopping after 60 ms/);
    } finally {
      process.off('SIGTERM', own);
    }
  });

  it('exits after the grace period when closing hangs, and reports a failed close', async () => {
    const { exits, lines, exitCalled } = install(50);
    const unregisterHang = closeOnSignal(() => new Promise<void>(() => {}));
    const unregisterFail = closeOnSignal(() => Promise.reject(new Error('pool end failed')));
    try {
      process.emit('SIGTERM', 'SIGTERM');
      await exitCalled;
      expect(exits).toEqual([143]);
      expect(lines.at(-1)).toMatch(/still closing after 50 ms/);
    } finally {
      unregisterHang();
      unregisterFail();
    }
  });

  it('removes its listeners when disposed, also those it added on a signal', async () => {
    const signals = () =>
      ['SIGINT', 'SIGTERM', 'unhandledRejection', 'uncaughtException'].map((e) => process.listenerCount(e));
    const before = signals();
    const { exitCalled } = install();
    process.emit('SIGTERM', 'SIGTERM');
    await exitCalled;
    expect(signals()).toEqual(before.map((n) => n + 1));
    handling!.dispose();
    expect(signals()).toEqual(before);
  });
});
