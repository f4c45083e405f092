import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

function tierflow(...args: string[]) {
  const result = spawnSync(process.execPath, ['bin/tierflow.js', ...args], {
    encoding: 'utf8',
    env: { ...process.env, DATABASE_URL: '' },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('CLI errors', () => {
  it('prints one clear line and exits non-zero', () => {
    const result = tierflow('import', 'quotes', 'file.csv');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'tierflow: unknown dataset "quotes" (known: market_data, trades, news, companies, cryptocurrencies, dividends, financials, guidance, ratings, sentiment, social_sentiment, features) [UNKNOWN_DATASET]\n',
    );
  });

  it('adds the stack with --verbose', () => {
    const result = tierflow('--verbose', 'import', 'market_data', 'file.txt');
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n')[0]).toBe(
      'tierflow: cannot tell the format of file.txt: pass --format csv or --format ndjson [IMPORT]',
    );
    expect(result.stderr).toMatch(/at formatOf \(/);
  });

  it('rejects an unknown command with a usage error', () => {
    const result = tierflow('frobnicate');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown command 'frobnicate'");
  });
});
