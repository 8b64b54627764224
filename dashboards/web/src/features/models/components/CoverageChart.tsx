// A small line of the 80 % interval's coverage fold by fold (a quarter of sessions each),
// against its 80 % aim: drift or a regime the intervals missed shows as a run below the line.
// Plain SVG: thirty points need no chart library.
const WIDTH = 160;
const HEIGHT = 40;
const LOW = 0.5; // the lowest coverage the frame shows; below it the line sits on the floor

const y = (value: number) => HEIGHT - ((Math.min(Math.max(value, LOW), 1) - LOW) / (1 - LOW)) * HEIGHT;

export function CoverageChart({ byFold, nominal }: { byFold: number[]; nominal: number }) {
  if (byFold.length < 2) return <span className="muted">not enough folds</span>;
  const step = WIDTH / (byFold.length - 1);
  const points = byFold.map((value, index) => `${(index * step).toFixed(1)},${y(value).toFixed(1)}`).join(' ');
  return (
    <svg
      className="coverage-chart"
      role="img"
      aria-label={`80 % interval coverage over ${byFold.length} folds, oldest first`}
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      width={WIDTH}
      height={HEIGHT}
    >
      <line x1={0} x2={WIDTH} y1={y(nominal)} y2={y(nominal)} stroke="currentColor" strokeOpacity={0.4} strokeDasharray="3 3" />
      <polyline points={points} fill="none" stroke="currentColor" strokeWidth={1.5} />
    </svg>
  );
}
