// The metrics channel carries snapshots of the API's Prometheus series
// ({"at": epoch seconds, "series": {name: [{labels, value}]}}); the sparkline shows the API's
// request rate, from the change of the request counter between consecutive snapshots.

export type MetricsSnapshot = {
  at: number;
  series: Record<string, Array<{ labels: Record<string, string>; value: number }>>;
};

export const REQUESTS = 'tickerpulse_http_requests_total';

export function isSnapshot(data: unknown): data is MetricsSnapshot {
  const candidate = data as Partial<MetricsSnapshot> | null;
  return typeof candidate?.at === 'number' && typeof candidate.series === 'object' && candidate.series !== null;
}

export function total(snapshot: MetricsSnapshot, name: string): number {
  return (snapshot.series[name] ?? []).reduce((sum, sample) => sum + (Number(sample.value) || 0), 0);
}

/** Requests per second between consecutive snapshots. A counter that went down means the
 * API restarted: that interval is skipped rather than shown as a negative rate. */
export function requestRates(snapshots: readonly MetricsSnapshot[]): Array<{ at: number; perSecond: number }> {
  const rates: Array<{ at: number; perSecond: number }> = [];
  for (let i = 1; i < snapshots.length; i++) {
    const seconds = snapshots[i].at - snapshots[i - 1].at;
    const requests = total(snapshots[i], REQUESTS) - total(snapshots[i - 1], REQUESTS);
    if (seconds > 0 && requests >= 0) rates.push({ at: snapshots[i].at, perSecond: requests / seconds });
  }
  return rates;
}

/** SVG polyline points for values in a width x height box (the top is the largest value). */
export function sparklinePoints(values: readonly number[], width: number, height: number, pad = 2): string {
  if (values.length === 0) return '';
  const max = Math.max(...values);
  const min = Math.min(...values);
  const span = max - min || 1;
  const step = values.length > 1 ? (width - 2 * pad) / (values.length - 1) : 0;
  return values
    .map((value, i) => {
      const x = pad + i * step;
      const y = height - pad - ((value - min) / span) * (height - 2 * pad);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(' ');
}
