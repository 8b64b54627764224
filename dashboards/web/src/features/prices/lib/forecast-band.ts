// Chart series for a ticker's latest forecasts: the forecast path and its 80 % and 95 %
// interval bands, each starting from the last close the forecasts start from.
import type { Forecast } from '@/client';

export type BandPoint = { time: string; lower: number; upper: number };
export type PathPoint = { time: string; value: number };
export type Spacer = { time: string };

export type ForecastSeries = {
  path: PathPoint[];
  band80: BandPoint[];
  band95: BandPoint[];
  /** Weekdays between the anchor and the last target that no forecast lands on: empty slots
   * on the chart's time axis, so a 5-day horizon sits five sessions out, not one. */
  spacers: Spacer[];
};

const DAY_MS = 86_400_000;

function weekdaysBetween(first: string, last: string): string[] {
  // Exchange holidays are not known here; a holiday shifts the spacing by one slot at most.
  const days: string[] = [];
  for (let t = Date.parse(`${first}T00:00:00Z`) + DAY_MS; t < Date.parse(`${last}T00:00:00Z`); t += DAY_MS) {
    const weekday = new Date(t).getUTCDay();
    if (weekday !== 0 && weekday !== 6) days.push(new Date(t).toISOString().slice(0, 10));
  }
  return days;
}

export function forecastSeries(forecasts: readonly Forecast[]): ForecastSeries {
  if (forecasts.length === 0) return { path: [], band80: [], band95: [], spacers: [] };
  // The batch's own session: the latest as_of (the latest forecasts per horizon normally share it).
  const anchor = forecasts.reduce((a, b) => (b.as_of > a.as_of ? b : a));
  const ahead = forecasts
    .filter((f) => f.as_of === anchor.as_of && f.target_date > anchor.as_of)
    .sort((a, b) => a.target_date.localeCompare(b.target_date))
    // One point per target date (two horizons on one day would make the series invalid).
    .filter((f, i, sorted) => i === 0 || sorted[i - 1].target_date !== f.target_date);
  const start = { time: anchor.as_of, value: anchor.last_close };
  const band = (pick: (f: Forecast) => { lower: number; upper: number }): BandPoint[] => [
    { time: start.time, lower: start.value, upper: start.value },
    ...ahead.map((f) => ({ time: f.target_date, ...pick(f) })),
  ];
  const targets = new Set(ahead.map((f) => f.target_date));
  const last = ahead.at(-1)?.target_date ?? anchor.as_of;
  return {
    path: [start, ...ahead.map((f) => ({ time: f.target_date, value: f.forecast }))],
    band80: band((f) => f.interval_80),
    band95: band((f) => f.interval_95),
    spacers: weekdaysBetween(anchor.as_of, last)
      .filter((day) => !targets.has(day))
      .map((time) => ({ time })),
  };
}
