// Start a retrain (POST /v1/training-runs with an admin key) and follow it to the end.
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';

import { ErrorNotice } from '@/components/Status';
import { formatAge, formatDateTime, formatPercent } from '@/utils/format';

import { isFinished, latestTrainingRunQuery, trainingRunQuery } from '../api/get-training-run';
import { useSubmitTrainingRun } from '../api/submit-training-run';

export function RetrainPanel({ apiKey }: { apiKey: string }) {
  const queryClient = useQueryClient();
  const latest = useQuery(latestTrainingRunQuery());
  const [runId, setRunId] = useState<string | null>(null);
  const submit = useSubmitTrainingRun((run) => setRunId(run.id));
  const followed = runId ?? latest.data?.id ?? null;
  const run = useQuery({ ...trainingRunQuery(followed ?? ''), enabled: followed !== null });
  const current = run.data ?? latest.data ?? null;

  // New models and forecasts once a run we watched succeeds.
  const announced = useRef<string | null>(null);
  useEffect(() => {
    if (current?.state === 'succeeded' && runId === current.id && announced.current !== current.id) {
      announced.current = current.id;
      void queryClient.invalidateQueries({ queryKey: ['models'] });
      void queryClient.invalidateQueries({ queryKey: ['forecasts'] });
    }
  }, [current, runId, queryClient]);

  const busy = submit.isPending || (current !== null && !isFinished(current.state));
  return (
    <div className="retrain" aria-label="Retrain">
      <div className="retrain-row">
        <button
          type="button"
          className="primary"
          disabled={!apiKey || busy}
          onClick={() => submit.mutate()}
          title={apiKey ? 'Train every horizon again and publish new forecasts' : 'Needs an admin API key'}
        >
          {busy ? 'Training…' : 'Retrain models'}
        </button>
        {!apiKey && <span className="muted small">Retraining needs an admin API key.</span>}
      </div>
      {submit.isError && <ErrorNotice error={submit.error} />}
      {current && (
        <div className="training-run" data-testid="training-run" data-state={current.state}>
          <div>
            Run <code>{current.id.slice(0, 8)}</code>:{' '}
            <span className={`run-state run-${current.state}`} data-testid="training-state">
              {current.state}
            </span>{' '}
            <span className="muted">{current.step}</span>
          </div>
          <progress max={1} value={current.progress} aria-label="Training progress" />{' '}
          <span className="small">{formatPercent(current.progress, 0)}</span>
          <div className="muted small">
            requested {formatDateTime(current.created_at)} ({formatAge(current.created_at)})
            {current.finished_at ? ` · finished ${formatDateTime(current.finished_at)}` : ''}
            {current.attempts > 1 ? ` · attempt ${current.attempts}` : ''}
            {current.dagster_run_url && (
              <>
                {' · '}
                <a href={current.dagster_run_url} target="_blank" rel="noreferrer">
                  Dagster run
                </a>
              </>
            )}
          </div>
          {current.error && <p className="status status-error problem-detail">{current.error}</p>}
        </div>
      )}
      {run.isError && <ErrorNotice error={run.error} onRetry={() => run.refetch()} />}
    </div>
  );
}
