import { sparklinePoints } from '../lib/metrics';

type Props = { values: readonly number[]; label: string; width?: number; height?: number };

export function Sparkline({ values, label, width = 220, height = 44 }: Props) {
  return (
    <svg className="sparkline" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label}>
      <polyline points={sparklinePoints(values, width, height)} fill="none" stroke="currentColor" strokeWidth="1.75" />
    </svg>
  );
}
