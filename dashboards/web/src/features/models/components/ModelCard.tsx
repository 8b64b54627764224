// The model card: per horizon, the serving champion's skill against the random walk and its
// significance, its interval coverage (overall, per volatility tercile, fold by fold), version
// and when it was last trained.
import { useQuery } from '@tanstack/react-query';
import type { ReactNode } from 'react';

import type { ModelScope } from '@/client';
import { Empty, ErrorNotice, Loading } from '@/components/Status';
import { formatAge, formatDateTime } from '@/utils/format';

import { modelsQuery } from '../api/get-models';
import { describeCoverage, describeSignificance, describeSkill, describeTerciles, lastTrained, type Verdict } from '../lib/skill';
import { CoverageChart } from './CoverageChart';

const Figure = ({ label, children }: { label: string; children: ReactNode }) => (
  <div className="figure">
    <dt>{label}</dt>
    <dd>{children}</dd>
  </div>
);

const Judged = ({ verdict }: { verdict: Verdict }) => <span className={`tone-${verdict.tone}`}>{verdict.text}</span>;

function ScopeCard({ scope }: { scope: ModelScope }) {
  const champion = scope.champion;
  const trained = lastTrained(scope);
  return (
    <article className="model-scope" aria-label={`Model for ${scope.horizon}-day horizon`}>
      <h3>
        {scope.horizon}-day horizon <span className="muted">{scope.name}</span>
      </h3>
      {!champion ? (
        <Empty>No champion yet: the random walk serves until a model beats it.</Empty>
      ) : (
        <dl className="figures">
          <Figure label="Champion">
            {champion.model} <span className="badge">v{champion.version}</span>
          </Figure>
          <Figure label="Skill (MAE vs naive)">
            <strong>{Number.isFinite(champion.relative_mae) ? champion.relative_mae.toFixed(3) : '–'}</strong>{' '}
            <Judged verdict={describeSkill(champion.relative_mae)} />
          </Figure>
          <Figure label="80 % coverage">
            <Judged verdict={describeCoverage(champion.coverage_80, 0.8)} />
          </Figure>
          <Figure label="95 % coverage">
            <Judged verdict={describeCoverage(champion.coverage_95, 0.95)} />
          </Figure>
          <Figure label="Against the random walk (Diebold-Mariano)">
            <Judged verdict={describeSignificance(champion.dm_pvalue)} />
          </Figure>
          <Figure label="80 % coverage by volatility">
            <Judged verdict={describeTerciles(champion.coverage_80_by_volatility, 0.8)} />
          </Figure>
          <Figure label="95 % coverage by volatility">
            <Judged verdict={describeTerciles(champion.coverage_95_by_volatility, 0.95)} />
          </Figure>
          <Figure label="80 % coverage by fold">
            <CoverageChart byFold={champion.coverage_80_by_fold ?? []} nominal={0.8} />
          </Figure>
          <Figure label="Last trained">
            {formatDateTime(trained)} <span className="muted">{formatAge(trained)}</span>
          </Figure>
          <Figure label="Training data">{champion.trained_window.replace('..', ' – ')}</Figure>
        </dl>
      )}
      {scope.challenger && scope.challenger.version !== champion?.version && (
        <p className="muted small">
          Challenger v{scope.challenger.version} ({scope.challenger.model}): relative MAE{' '}
          {scope.challenger.relative_mae.toFixed(3)}, not promoted.
        </p>
      )}
    </article>
  );
}

export function ModelCard({ actions }: { actions?: ReactNode }) {
  const models = useQuery(modelsQuery());
  return (
    <section className="panel model-card" aria-labelledby="model-card-title">
      <header className="panel-header">
        <h2 id="model-card-title">Models</h2>
      </header>
      {models.isPending ? (
        <Loading what="models" />
      ) : models.isError ? (
        <ErrorNotice error={models.error} onRetry={() => models.refetch()} />
      ) : models.data.length === 0 ? (
        <Empty>No horizons are served.</Empty>
      ) : (
        <div className="model-scopes">
          {models.data.map((scope) => (
            <ScopeCard key={scope.name} scope={scope} />
          ))}
        </div>
      )}
      {actions}
    </section>
  );
}
