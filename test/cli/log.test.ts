import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileLog } from '../../src/log/file/index.ts';
import { runTierflow } from '../support/cli.ts';

let dir: string;

const tierflow = (...args: string[]) => runTierflow('log', '--log', `file:${dir}`, ...args);

describe('tierflow log', () => {
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tierflow-cli-log-'));
    const log = await createFileLog(dir);
    await log.append('events', [
      { key: 'AAPL', payload: new TextEncoder().encode('{"n":1}') },
      { key: 'MSFT', payload: new TextEncoder().encode('{"n":2}') },
      { payload: new Uint8Array([0, 159, 146, 150]) },
    ]);
    await log.commit('lake', 'events', 0n);
    await log.close();
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('lists topics with their size', () => {
    const { code, stdout } = tierflow('topics');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^topic\s+entries\s+bytes\s+first\s+last/);
    expect(stdout).toMatch(/events\s+3\s+\d+\s+0\s+2/);
  });

  it('tails entries as text or JSON, binary payloads as base64', () => {
    const text = tierflow('tail', 'events', '--limit', '2');
    expect(text.stdout.split('\n').map((l) => l.split('\t').filter((_, i) => i !== 1))).toEqual([
      ['0', 'AAPL', '{"n":1}'],
      ['1', 'MSFT', '{"n":2}'],
    ]);
    const json = tierflow('tail', 'events', '--from', '2', '--format', 'json');
    expect(JSON.parse(json.stdout)).toMatchObject({ position: '2', key: null, payload: 'base64:AJ+Slg==' });
  });

  it('reports group lag and names an unknown topic', () => {
    const { stdout } = tierflow('stats', 'events', '--group', 'lake', 'new');
    expect(stdout).toMatch(/lake\s+0\s+2/);
    expect(stdout).toMatch(/new\s+none\s+3/);
    expect(tierflow('tail', 'nope')).toMatchObject({
      code: 1,
      stderr: 'tierflow: unknown topic "nope" [LOG_UNKNOWN_TOPIC]',
    });
  });
});
