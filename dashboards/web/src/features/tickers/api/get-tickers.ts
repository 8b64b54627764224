import { queryOptions } from '@tanstack/react-query';

import { getTickers } from '@/client';
import { unwrap } from '@/lib/api-client';

/** GET /v1/tickers?q=: the active universe, or the tickers matching a search. */
export const tickersQuery = (search: string) =>
  queryOptions({
    queryKey: ['tickers', search],
    queryFn: ({ signal }) =>
      unwrap(getTickers({ query: search ? { q: search } : undefined, signal })),
    staleTime: 60_000,
  });
