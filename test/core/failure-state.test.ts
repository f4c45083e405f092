import { describe, expect, it } from 'vitest';
import { FailureState } from '../../src/core/index.ts';

describe('FailureState', () => {
  it('ends a shallow failure on any success, a deep one only on deep work, and a stop never', () => {
    const state = new FailureState();
    state.fail(new Error('connection refused'), false);
    state.recover(false);
    expect(state.failing).toBeUndefined();
    state.fail(new Error('lake write failed'), true);
    state.recover(false);
    expect(state.failing).toBe('lake write failed');
    state.recover(true);
    expect(state.failing).toBeUndefined();
    state.fail(new Error('refused for its data'), true);
    state.dropDeep();
    expect(state.failing).toBeUndefined();
    expect(state.stop(new Error('corrupt manifest'))).toBe(true);
    expect(state.stop(new Error('again'))).toBe(false);
    expect(state.fail(new Error('later'), false)).toBe(false);
    state.recover(true);
    expect(state.failing).toBe('stopped: corrupt manifest');
  });
});
