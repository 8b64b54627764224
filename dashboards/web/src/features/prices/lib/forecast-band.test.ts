import type { Forecast } from '@/client';

import { forecastSeries } from './forecast-band';

function forecast(horizon: number, target: string, value: number, spread: number): Forecast {
  return {
    horizon,
    as_of: '2026-11-27',
    target_date: target,
    last_close: 100,
    forecast: value,
    interval_80: { lower: value - spread, upper: value + spread },
    interval_95: { lower: value - 2 * spread, upper: value + 2 * spread },
    model_name: `tickerpulse-price-h${horizon}`,
    model_version: '1',
    model: 'naive',
    created_at: '2026-11-28T10:00:00',
  };
}

describe('forecastSeries', () => {
  it('starts every series at the last close and orders the horizons by target date', () => {
    const series = forecastSeries([forecast(5, '2026-12-04', 101, 4), forecast(1, '2026-11-30', 100.5, 2)]);
    expect(series.path).toEqual([
      { time: '2026-11-27', value: 100 },
      { time: '2026-11-30', value: 100.5 },
      { time: '2026-12-04', value: 101 },
    ]);
    expect(series.band80).toEqual([
      { time: '2026-11-27', lower: 100, upper: 100 },
      { time: '2026-11-30', lower: 98.5, upper: 102.5 },
      { time: '2026-12-04', lower: 97, upper: 105 },
    ]);
    expect(series.band95[2]).toEqual({ time: '2026-12-04', lower: 93, upper: 109 });
  });

  it('nests the 80 % band inside the 95 % band', () => {
    const series = forecastSeries([forecast(1, '2026-11-30', 100.5, 2), forecast(5, '2026-12-04', 101, 4)]);
    series.band80.forEach((inner, i) => {
      expect(series.band95[i].lower).toBeLessThanOrEqual(inner.lower);
      expect(series.band95[i].upper).toBeGreaterThanOrEqual(inner.upper);
    });
  });

  it('spaces the axis with the weekdays between targets, skipping the weekend', () => {
    const series = forecastSeries([forecast(1, '2026-11-30', 100, 1), forecast(5, '2026-12-04', 100, 1)]);
    // Friday 27th -> Monday 30th (h1) ... Friday 4th (h5): Tue, Wed, Thu are empty slots.
    expect(series.spacers.map((s) => s.time)).toEqual(['2026-12-01', '2026-12-02', '2026-12-03']);
  });

  it('gives empty series without forecasts', () => {
    expect(forecastSeries([])).toEqual({ path: [], band80: [], band95: [], spacers: [] });
  });

  it('keeps one point per target date', () => {
    const series = forecastSeries([forecast(1, '2026-11-30', 100, 1), forecast(2, '2026-11-30', 102, 1)]);
    expect(series.path.map((p) => p.time)).toEqual(['2026-11-27', '2026-11-30']);
  });
});
