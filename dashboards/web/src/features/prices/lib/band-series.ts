// A lightweight-charts custom series that fills the area between a lower and an upper line:
// the chart library has lines and areas, but no band between two lines.
import {
  customSeriesDefaultOptions,
  type CustomData,
  type CustomSeriesOptions,
  type CustomSeriesPricePlotValues,
  type CustomSeriesWhitespaceData,
  type ICustomSeriesPaneRenderer,
  type ICustomSeriesPaneView,
  type PaneRendererCustomData,
  type PriceToCoordinateConverter,
  type Time,
} from 'lightweight-charts';

export interface BandData extends CustomData<Time> {
  lower: number;
  upper: number;
}

export interface BandOptions extends CustomSeriesOptions {
  fillColor: string;
  edgeColor: string;
}

type DrawTarget = Parameters<ICustomSeriesPaneRenderer['draw']>[0];

class BandRenderer implements ICustomSeriesPaneRenderer {
  private data: PaneRendererCustomData<Time, BandData> | null = null;
  private options: BandOptions | null = null;

  update(data: PaneRendererCustomData<Time, BandData>, options: BandOptions): void {
    this.data = data;
    this.options = options;
  }

  draw(target: DrawTarget, toY: PriceToCoordinateConverter): void {
    const { data, options } = this;
    if (!data || !options || data.bars.length < 2) return;
    const points: Array<{ x: number; lower: number; upper: number }> = [];
    for (const bar of data.bars) {
      const lower = toY(bar.originalData.lower);
      const upper = toY(bar.originalData.upper);
      if (lower !== null && upper !== null) points.push({ x: bar.x, lower, upper });
    }
    if (points.length < 2) return;
    target.useBitmapCoordinateSpace(({ context, horizontalPixelRatio: h, verticalPixelRatio: v }) => {
      context.beginPath();
      points.forEach((p, i) => (i ? context.lineTo(p.x * h, p.upper * v) : context.moveTo(p.x * h, p.upper * v)));
      [...points].reverse().forEach((p) => context.lineTo(p.x * h, p.lower * v));
      context.closePath();
      context.fillStyle = options.fillColor;
      context.fill();
      context.lineWidth = Math.max(1, Math.round(h));
      context.strokeStyle = options.edgeColor;
      for (const edge of ['upper', 'lower'] as const) {
        context.beginPath();
        points.forEach((p, i) => (i ? context.lineTo(p.x * h, p[edge] * v) : context.moveTo(p.x * h, p[edge] * v)));
        context.stroke();
      }
    });
  }
}

export class BandSeries implements ICustomSeriesPaneView<Time, BandData, BandOptions> {
  private readonly paneRenderer = new BandRenderer();

  renderer(): BandRenderer {
    return this.paneRenderer;
  }

  update(data: PaneRendererCustomData<Time, BandData>, options: BandOptions): void {
    this.paneRenderer.update(data, options);
  }

  priceValueBuilder(row: BandData): CustomSeriesPricePlotValues {
    // Autoscale keeps both edges in view; the midpoint is the "current" value.
    return [row.lower, row.upper, (row.lower + row.upper) / 2];
  }

  isWhitespace(row: BandData | CustomSeriesWhitespaceData<Time>): row is CustomSeriesWhitespaceData<Time> {
    return (row as Partial<BandData>).lower === undefined;
  }

  defaultOptions(): BandOptions {
    return { ...customSeriesDefaultOptions, fillColor: 'rgba(37, 99, 235, 0.15)', edgeColor: 'rgba(37, 99, 235, 0.5)' };
  }
}
