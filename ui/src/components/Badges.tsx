import type { Interpretation } from '../generated/Interpretation';
import type { ObservationStatus } from '../generated/ObservationStatus';

/** A row the server has not confirmed yet. */
export function PendingBadge() {
  return (
    <span className="badge badge-pending" data-testid="pending-badge" title="Saved on this workstation; uploads at the next sync">
      <span aria-hidden="true">⟳ </span>Pending sync
    </span>
  );
}

const FLAGS: Record<Exclude<Interpretation, 'N'>, { icon: string; text: string; tone: string }> = {
  H: { icon: '▲', text: 'High', tone: 'abnormal' },
  L: { icon: '▼', text: 'Low', tone: 'abnormal' },
  A: { icon: '◆', text: 'Abnormal', tone: 'abnormal' },
  HH: { icon: '⚠', text: 'CRITICAL HIGH', tone: 'critical' },
  LL: { icon: '⚠', text: 'CRITICAL LOW', tone: 'critical' },
};

export function isCritical(flag: Interpretation | null): boolean {
  return flag === 'HH' || flag === 'LL';
}

/** H/L/critical in words and an icon, never colour alone. Nothing for normal. */
export function Flag({ interpretation }: { interpretation: Interpretation | null }) {
  if (interpretation === null || interpretation === 'N') return null;
  const flag = FLAGS[interpretation];
  return (
    <span className={`flag-badge flag-${flag.tone}`} data-testid="result-flag" data-flag={interpretation}>
      <span aria-hidden="true">{flag.icon} </span>
      {flag.text}
    </span>
  );
}

const STATUS: Record<ObservationStatus, string> = {
  preliminary: 'Preliminary',
  final: 'Final',
  amended: 'Amended',
  'entered-in-error': 'Entered in error',
};

export function formatObservationStatus(status: ObservationStatus): string {
  return STATUS[status];
}
