// `whetstone demo` end to end on the embedded default model with a shortened step count: the held-out
// loss falls, and the JSON carries the before/after numbers and side-by-side samples.
import { describe, it, expect } from 'vitest';
import { whetstone } from './run-cli';

describe('whetstone demo', () => {
  it('fine-tunes the default model on the domain text and the held-out loss falls', () => {
    const r = whetstone(['demo', '--dataset', 'domain', '--steps', '8', '--backend', 'cpu']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ dataset: 'domain', steps: 8 });
    expect(r.json.after.val_loss).toBeLessThan(r.json.before.val_loss);
    expect(r.json.loss_reduction).toBeCloseTo(1 - r.json.after.val_loss / r.json.before.val_loss, 10);
    expect(r.json.samples.length).toBeGreaterThan(0);
    expect(typeof r.json.samples[0].before).toBe('string');
    expect(r.stderr).toMatch(/8\/8 loss/);
  });

  it('refuses an unknown dataset', () => {
    const r = whetstone(['demo', '--dataset', 'nope', '--backend', 'cpu']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--dataset must be one of support, intent, domain, alpaca/);
  });
});
