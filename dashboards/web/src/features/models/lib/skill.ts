// How a model card says what the metrics mean: skill against the random walk, and whether
// the intervals hold what they promise.
import type { ModelScope } from '@/client';

export type Tone = 'good' | 'bad' | 'neutral';
export type Verdict = { text: string; tone: Tone };

const known = (value: number | null | undefined): value is number =>
  typeof value === 'number' && Number.isFinite(value);

/** Walk-forward MAE over the random walk's: below 1 beats "tomorrow = today". Differences
 * under 0.1 % are within what daily prices allow, so they read as a tie. */
export function describeSkill(relativeMae: number | null | undefined): Verdict {
  if (!known(relativeMae)) return { text: 'not measured', tone: 'neutral' };
  const change = (1 - relativeMae) * 100;
  if (Math.abs(change) < 0.1) return { text: 'same error as the random walk', tone: 'neutral' };
  const size = `${Math.abs(change).toFixed(1)} %`;
  return change > 0
    ? { text: `${size} lower error than the random walk`, tone: 'good' }
    : { text: `${size} higher error than the random walk`, tone: 'bad' };
}

/** Realized coverage of an interval against its nominal level, e.g. "81.2 % (aim 80 %)".
 * Off by more than 8 points reads as a warning: the band is too narrow or too wide. */
export function describeCoverage(coverage: number | null | undefined, nominal: number): Verdict {
  const aim = `aim ${Math.round(nominal * 100)} %`;
  if (!known(coverage)) return { text: `not measured (${aim})`, tone: 'neutral' };
  const text = `${(coverage * 100).toFixed(1)} % (${aim})`;
  return { text, tone: Math.abs(coverage - nominal) > 0.08 ? 'bad' : 'good' };
}

/** When the scope was last trained: its latest model_meta entry (a promotion or a rejection). */
export function lastTrained(scope: ModelScope): string | null {
  const stamps = scope.history.map((change) => change.changed_at).sort();
  return stamps.at(-1) ?? null;
}

/** The Diebold-Mariano p-value against the random walk: below 5 % the edge is more than noise. */
export function describeSignificance(pvalue: number | null | undefined): Verdict {
  if (!known(pvalue)) return { text: 'not tested', tone: 'neutral' };
  const text = `p = ${pvalue < 0.001 ? '< 0.001' : pvalue.toFixed(3)}`;
  return pvalue < 0.05
    ? { text: `${text}: significant`, tone: 'good' }
    : { text: `${text}: within noise of the random walk`, tone: 'neutral' };
}

/** Coverage per volatility tercile, e.g. "calm 79.9 · mid 80.1 · turbulent 81.0 %"; a tercile
 * more than 3 points off its level reads as a warning. */
export function describeTerciles(coverage: number[] | null | undefined, nominal: number): Verdict {
  if (!coverage || coverage.length !== 3 || !coverage.every(known)) {
    return { text: 'not measured', tone: 'neutral' };
  }
  const names = ['calm', 'mid', 'turbulent'];
  const text = `${coverage.map((value, index) => `${names[index]} ${(value * 100).toFixed(1)}`).join(' · ')} %`;
  return { text, tone: coverage.some((value) => Math.abs(value - nominal) > 0.03) ? 'bad' : 'good' };
}
