import { useMutation } from '@tanstack/react-query';

import { submitTrainingRun, type TrainingRun } from '@/client';
import { unwrap } from '@/lib/api-client';

/** POST /v1/training-runs (admin key): a new run (202), or the one already queued or running
 * (200). The spec gives the 200 no schema, so the client types it `unknown`; it is the same
 * TrainingRun body. */
export const useSubmitTrainingRun = (onSubmitted: (run: TrainingRun) => void) =>
  useMutation({
    mutationFn: () => unwrap(submitTrainingRun({ body: {} })) as Promise<TrainingRun>,
    onSuccess: onSubmitted,
  });
