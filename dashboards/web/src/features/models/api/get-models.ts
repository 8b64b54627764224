import { queryOptions } from '@tanstack/react-query';

import { getModels } from '@/client';
import { unwrap } from '@/lib/api-client';

/** GET /v1/models: champion and challenger per horizon, with the promotion history. */
export const modelsQuery = () =>
  queryOptions({
    queryKey: ['models'],
    queryFn: ({ signal }) => unwrap(getModels({ signal })),
    staleTime: 30_000,
  });
