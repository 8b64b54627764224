import { queryOptions } from '@tanstack/react-query';

import { getTrainingRun, listTrainingRuns } from '@/client';
import { unwrap } from '@/lib/api-client';

export const isFinished = (state: string | undefined) => state === 'succeeded' || state === 'failed';

/** GET /v1/training-runs/{id}, polled every second until the run succeeds or fails. */
export const trainingRunQuery = (runId: string) =>
  queryOptions({
    queryKey: ['training-runs', runId],
    queryFn: ({ signal }) => unwrap(getTrainingRun({ path: { run_id: runId }, signal })),
    refetchInterval: (query) => (isFinished(query.state.data?.state) ? false : 1000),
  });

/** GET /v1/training-runs?limit=1: the latest run, so a reload still shows one in progress. */
export const latestTrainingRunQuery = () =>
  queryOptions({
    queryKey: ['training-runs', 'latest'],
    queryFn: ({ signal }) => unwrap(listTrainingRuns({ query: { limit: 1 }, signal })).then((runs) => runs[0] ?? null),
  });
