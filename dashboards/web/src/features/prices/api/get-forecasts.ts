import { queryOptions } from '@tanstack/react-query';

import { getForecasts } from '@/client';
import { unwrap } from '@/lib/api-client';

/** GET /v1/forecasts/{ticker}: the latest forecast of each horizon with its intervals. */
export const forecastsQuery = (ticker: string) =>
  queryOptions({
    queryKey: ['forecasts', ticker],
    queryFn: ({ signal }) => unwrap(getForecasts({ path: { ticker }, signal })),
    staleTime: 30_000,
    retry: (failures, error) => failures < 2 && !('status' in error && error.status === 404),
  });
