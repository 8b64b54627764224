import { isSnapshot, requestRates, sparklinePoints, type MetricsSnapshot } from './metrics';

const snapshot = (at: number, ...counts: number[]): MetricsSnapshot => ({
  at,
  series: {
    tickerpulse_http_requests_total: counts.map((value, i) => ({
      labels: { method: 'GET', route: `/r${i}`, status: '200' },
      value,
    })),
    tickerpulse_cache_hits_total: [{ labels: { kind: 'prices' }, value: 1e6 }],
  },
});

describe('requestRates', () => {
  it('sums every route and divides by the time between snapshots', () => {
    const rates = requestRates([snapshot(100, 10, 5), snapshot(105, 30, 10), snapshot(110, 30, 10)]);
    expect(rates).toEqual([
      { at: 105, perSecond: 5 },
      { at: 110, perSecond: 0 },
    ]);
  });

  it('skips the interval over an API restart (the counter starts again from 0)', () => {
    expect(requestRates([snapshot(0, 500), snapshot(5, 3), snapshot(10, 13)])).toEqual([{ at: 10, perSecond: 2 }]);
  });

  it('needs two snapshots', () => {
    expect(requestRates([snapshot(0, 1)])).toEqual([]);
  });
});

describe('sparklinePoints', () => {
  it('spans the box, the largest value at the top', () => {
    expect(sparklinePoints([0, 5, 10], 100, 20, 0)).toBe('0.0,20.0 50.0,10.0 100.0,0.0');
  });

  it('draws a flat series along the bottom without dividing by zero', () => {
    expect(sparklinePoints([3, 3], 10, 10, 0)).toBe('0.0,10.0 10.0,10.0');
  });

  it('is empty without values', () => {
    expect(sparklinePoints([], 10, 10)).toBe('');
  });
});

describe('isSnapshot', () => {
  it('tells a snapshot from other payloads', () => {
    expect(isSnapshot(snapshot(1, 1))).toBe(true);
    expect(isSnapshot({ state: 'firing' })).toBe(false);
    expect(isSnapshot(null)).toBe(false);
  });
});
