// Number and date formatting shared by the panels.

const missing = (value: number | null | undefined): value is null | undefined =>
  value === null || value === undefined || Number.isNaN(value);

export function formatPrice(value: number | null | undefined): string {
  if (missing(value)) return '–';
  return value.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

export function formatPercent(share: number | null | undefined, digits = 1): string {
  if (missing(share)) return '–';
  return `${(share * 100).toFixed(digits)} %`;
}

/** "2026-11-28 14:05" in the viewer's time zone; the API sends UTC without a zone mark. */
export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '–';
  const stamp = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`);
  if (Number.isNaN(stamp.getTime())) return iso;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${stamp.getFullYear()}-${pad(stamp.getMonth() + 1)}-${pad(stamp.getDate())} ${pad(stamp.getHours())}:${pad(stamp.getMinutes())}`;
}

/** "3 min ago", "2 h ago", "5 d ago" (now given for tests). */
export function formatAge(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return '';
  const then = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`).getTime();
  if (Number.isNaN(then)) return '';
  const seconds = Math.max(0, (now - then) / 1000);
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}
