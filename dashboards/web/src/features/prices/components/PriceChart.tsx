// Price history (closes) with the latest forecasts: their path and 80/95 % interval bands.
import {
  AreaSeries,
  ColorType,
  createChart,
  LineSeries,
  LineStyle,
  type IChartApi,
  type ISeriesApi,
} from 'lightweight-charts';
import { useEffect, useRef } from 'react';

import type { Forecast, PriceBar } from '@/client';

import { BandSeries } from '../lib/band-series';
import { forecastSeries } from '../lib/forecast-band';

const FORECAST = '#d97706';

function addBand(chart: IChartApi, fill: number, edge: number) {
  return chart.addCustomSeries(new BandSeries(), {
    fillColor: `rgba(217, 119, 6, ${fill})`,
    edgeColor: `rgba(217, 119, 6, ${edge})`,
    lastValueVisible: false,
    priceLineVisible: false,
  });
}

type Series = {
  closes: ISeriesApi<'Area'>;
  path: ISeriesApi<'Line'>;
  spacers: ISeriesApi<'Line'>;
  band80: ReturnType<typeof addBand>;
  band95: ReturnType<typeof addBand>;
};

export function PriceChart({ prices, forecasts }: { prices: PriceBar[]; forecasts: Forecast[] }) {
  const container = useRef<HTMLDivElement>(null);
  const chart = useRef<IChartApi | null>(null);
  const series = useRef<Series | null>(null);

  useEffect(() => {
    const created = createChart(container.current!, {
      autoSize: true,
      layout: {
        background: { type: ColorType.Solid, color: '#ffffff' },
        textColor: '#334155',
        fontFamily: 'system-ui, sans-serif',
        attributionLogo: true,
      },
      grid: { vertLines: { color: '#f1f5f9' }, horzLines: { color: '#f1f5f9' } },
      rightPriceScale: { borderColor: '#e2e8f0' },
      timeScale: { borderColor: '#e2e8f0' },
      localization: { priceFormatter: (p: number) => p.toFixed(2) },
    });
    // The wider band first, so the 80 % band is painted over it.
    const band95 = addBand(created, 0.12, 0.35);
    const band80 = addBand(created, 0.22, 0.55);
    const closes = created.addSeries(AreaSeries, {
      lineColor: '#2563eb',
      topColor: 'rgba(37, 99, 235, 0.25)',
      bottomColor: 'rgba(37, 99, 235, 0.02)',
      lineWidth: 2,
      priceLineVisible: false,
    });
    const path = created.addSeries(LineSeries, {
      color: FORECAST,
      lineWidth: 2,
      lineStyle: LineStyle.Dashed,
      pointMarkersVisible: true,
      priceLineVisible: false,
      title: 'forecast',
    });
    const spacers = created.addSeries(LineSeries, { visible: false });
    chart.current = created;
    series.current = { closes, path, spacers, band80, band95 };
    return () => {
      created.remove();
      chart.current = null;
      series.current = null;
    };
  }, []);

  useEffect(() => {
    const current = series.current;
    if (!current) return;
    const ahead = forecastSeries(forecasts);
    current.closes.setData(prices.map((bar) => ({ time: bar.date, value: bar.close })));
    current.path.setData(ahead.path);
    current.band80.setData(ahead.band80);
    current.band95.setData(ahead.band95);
    current.spacers.setData(ahead.spacers);
    chart.current?.timeScale().fitContent();
    const element = container.current!;
    element.dataset.pricePoints = String(prices.length);
    element.dataset.forecastPoints = String(Math.max(0, ahead.path.length - 1));
  }, [prices, forecasts]);

  return (
    <div
      ref={container}
      className="price-chart"
      data-testid="price-chart"
      role="img"
      aria-label={`Closing prices, ${prices.length} sessions, with ${forecasts.length} forecasts and their 80 and 95 % intervals`}
    />
  );
}
