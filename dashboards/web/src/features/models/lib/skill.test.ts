import type { ModelScope } from '@/client';

import { describeCoverage, describeSignificance, describeSkill, describeTerciles, lastTrained } from './skill';

describe('describeSkill', () => {
  it('reads a relative MAE below 1 as a lower error than the random walk', () => {
    expect(describeSkill(0.95)).toEqual({ text: '5.0 % lower error than the random walk', tone: 'good' });
  });

  it('reads a relative MAE above 1 as a higher error', () => {
    expect(describeSkill(1.012)).toEqual({ text: '1.2 % higher error than the random walk', tone: 'bad' });
  });

  it('calls differences under 0.1 % a tie (the naive model itself is exactly 1)', () => {
    expect(describeSkill(1).tone).toBe('neutral');
    expect(describeSkill(0.9995).text).toBe('same error as the random walk');
  });

  it('says when there is nothing to show', () => {
    expect(describeSkill(Number.NaN).text).toBe('not measured');
    expect(describeSkill(null).text).toBe('not measured');
  });
});

describe('describeCoverage', () => {
  it('puts the realized share beside its aim', () => {
    expect(describeCoverage(0.812, 0.8)).toEqual({ text: '81.2 % (aim 80 %)', tone: 'good' });
  });

  it('warns when the band misses its aim by more than 8 points', () => {
    expect(describeCoverage(0.7, 0.8).tone).toBe('bad');
    expect(describeCoverage(0.999, 0.95).tone).toBe('good');
  });

  it('handles a missing figure', () => {
    expect(describeCoverage(undefined, 0.95)).toEqual({ text: 'not measured (aim 95 %)', tone: 'neutral' });
  });
});

describe('lastTrained', () => {
  const change = (changed_at: string) => ({ version: '1', from_alias: null, to_alias: 'champion', reason: '', changed_at });

  it('is the latest model_meta entry', () => {
    const scope = {
      name: 'tickerpulse-price-h1',
      horizon: 1,
      champion: null,
      challenger: null,
      history: [change('2026-11-28T10:00:00'), change('2026-11-28T12:30:00'), change('2026-11-27T09:00:00')],
    } satisfies ModelScope;
    expect(lastTrained(scope)).toBe('2026-11-28T12:30:00');
  });

  it('is null for a scope never trained', () => {
    expect(lastTrained({ name: 'x', horizon: 1, champion: null, challenger: null, history: [] })).toBeNull();
  });
});

describe('describeSignificance', () => {
  it('calls a p-value under 5 % significant and one above it noise', () => {
    expect(describeSignificance(0.012)).toEqual({ text: 'p = 0.012: significant', tone: 'good' });
    expect(describeSignificance(0.4)).toEqual({ text: 'p = 0.400: within noise of the random walk', tone: 'neutral' });
    expect(describeSignificance(0.0001).text).toBe('p = < 0.001: significant');
    expect(describeSignificance(null).text).toBe('not tested');
  });
});

describe('describeTerciles', () => {
  it('lists calm to turbulent and warns when one is more than 3 points off', () => {
    expect(describeTerciles([0.799, 0.801, 0.81], 0.8)).toEqual({ text: 'calm 79.9 · mid 80.1 · turbulent 81.0 %', tone: 'good' });
    expect(describeTerciles([0.76, 0.82, 0.86], 0.8).tone).toBe('bad');
    expect(describeTerciles(null, 0.8).text).toBe('not measured');
  });
});
