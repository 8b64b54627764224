// The numbers behind the chart's forecast: one row per horizon.
import type { Forecast } from '@/client';
import { formatPrice } from '@/utils/format';

const interval = ({ lower, upper }: { lower: number; upper: number }) =>
  `${formatPrice(lower)} – ${formatPrice(upper)}`;

export function ForecastTable({ forecasts }: { forecasts: Forecast[] }) {
  const rows = [...forecasts].sort((a, b) => a.horizon - b.horizon);
  return (
    <table className="data-table forecast-table" aria-label="Latest forecasts">
      <thead>
        <tr>
          <th>Horizon</th>
          <th>Target</th>
          <th className="num">Forecast</th>
          <th className="num">80 % interval</th>
          <th className="num">95 % interval</th>
          <th>Model</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((f) => (
          <tr key={f.horizon}>
            <td>
              {f.horizon} day{f.horizon === 1 ? '' : 's'}
            </td>
            <td>{f.target_date}</td>
            <td className="num">{formatPrice(f.forecast)}</td>
            <td className="num">{interval(f.interval_80)}</td>
            <td className="num">{interval(f.interval_95)}</td>
            <td>
              {f.model} <span className="muted">v{f.model_version}</span>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
