import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { useState, type ReactNode } from 'react';

import { ApiError } from '@/lib/api-error';

// A 4xx will not change by asking again; a network error or a 5xx may.
const retry = (failures: number, error: unknown) =>
  failures < 2 && !(error instanceof ApiError && error.status !== null && error.status < 500);

export function AppProvider({ children }: { children: ReactNode }) {
  const [client] = useState(
    () => new QueryClient({ defaultOptions: { queries: { retry, refetchOnWindowFocus: false } } }),
  );
  return <QueryClientProvider client={client}>{children}</QueryClientProvider>;
}
