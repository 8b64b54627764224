import { queryOptions } from '@tanstack/react-query';

import { getPrices } from '@/client';
import { unwrap } from '@/lib/api-client';

/** GET /v1/prices/{ticker}?limit=: the latest `sessions` daily bars. */
export const pricesQuery = (ticker: string, sessions: number) =>
  queryOptions({
    queryKey: ['prices', ticker, sessions],
    queryFn: ({ signal }) =>
      unwrap(getPrices({ path: { ticker }, query: { limit: sessions }, signal })),
    staleTime: 60_000,
  });
