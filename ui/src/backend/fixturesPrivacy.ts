// Synthetic data of the privacy officer's workspace (tests and `npm run
// dev`): views of the sample patients by two clinicians over the last days,
// one session begun offline, a break-the-glass access awaiting review with
// what was viewed during it, one already reviewed, and three workstations'
// chains (one continuous, one broken with its finding, one empty).

import type { AccessRow } from '../generated/AccessRow';
import type { AuditSubtype } from '../generated/AuditSubtype';
import type { BreakGlassAccess } from '../generated/BreakGlassAccess';
import type { DeviceLabel } from '../generated/DeviceLabel';
import type { PatientLabel } from '../generated/PatientLabel';
import type { PurposeOfUse } from '../generated/PurposeOfUse';
import type { UserLabel } from '../generated/UserLabel';
import type { ChartRecord } from './memoryCharts';
import type { PrivacyData } from './memoryPrivacy';

const MINUTE = 60_000;

export const PRIVACY_USER = { username: 'dev-privacy', password: 'synthetic-p', display_name: 'Kim Osei (synthetic)' };

export const DEVICES: Record<'ward' | 'other' | 'ed', DeviceLabel> = {
  ward: { id: '0190f5c0-0000-7000-8000-0000000000d1', name: 'ward-7a-ws1' },
  other: { id: '0190f5c0-0000-7000-8000-0000000000d2', name: 'ward-7b-ws2' },
  ed: { id: '0190f5c0-0000-7000-8000-0000000000d3', name: 'ed-ws3' },
};

export const PRIVACY_USERS: Record<'clinician' | 'nurse' | 'officer', UserLabel> = {
  clinician: { user_id: 'dev-clinician', username: 'dev-clinician', display_name: 'Sam Reyes (synthetic)' },
  nurse: { user_id: 'nurse-b', username: 'nurse-b', display_name: 'Jo Tanaka (synthetic)' },
  officer: { user_id: PRIVACY_USER.username, username: PRIVACY_USER.username, display_name: PRIVACY_USER.display_name },
};

export const PENDING_ACCESS_ID = '0190f5c0-0000-7000-8000-0000000000a1';
export const REVIEWED_ACCESS_ID = '0190f5c0-0000-7000-8000-0000000000a2';

let counter = 0;
function eventId(): string {
  counter += 1;
  return `0190f5c1-0000-7000-8000-${counter.toString(16).padStart(12, '0')}`;
}

function row(
  at: Date,
  user: UserLabel,
  device: DeviceLabel,
  subtype: AuditSubtype,
  patient: PatientLabel | null,
  options: { purpose?: PurposeOfUse; offline?: boolean; sequence?: number } = {},
): AccessRow {
  return {
    event_id: eventId(),
    recorded_at: at.toISOString(),
    user,
    action: subtype.startsWith('break-glass') || subtype === 'login-offline' ? 'execute' : 'read',
    subtype,
    patient_id: patient?.id ?? null,
    patient,
    purpose_of_use: options.purpose ?? 'TREAT',
    outcome: 'success',
    device,
    sequence: options.sequence ?? counter,
    offline: options.offline ?? false,
  };
}

const label = (chart: ChartRecord): PatientLabel => ({
  id: chart.patient.id,
  mrn: chart.patient.mrn,
  family_name: chart.patient.family_name,
  given_name: chart.patient.given_name,
});

/** The workspace's data over `charts` (the ward's) and `outside` (another ward's patient). */
export function samplePrivacy(charts: ChartRecord[], outside: ChartRecord, now: Date = new Date()): PrivacyData {
  const patients = [...charts.map(label), label(outside)];
  const [first, second] = patients;
  const away = patients[patients.length - 1]!;
  const { clinician, nurse, officer } = PRIVACY_USERS;
  const ago = (minutes: number) => new Date(now.getTime() - minutes * MINUTE);

  const events: AccessRow[] = [];
  for (let day = 0; day < 3; day += 1) {
    const base = day * 24 * 60 + 60;
    for (const p of patients.slice(0, -1)) {
      events.push(row(ago(base + 30), clinician, DEVICES.ward, 'chart-open', p));
      events.push(row(ago(base + 29), clinician, DEVICES.ward, 'labs-view', p));
    }
    events.push(row(ago(base + 10), nurse, DEVICES.ward, 'census-list', null));
  }
  // A shift begun offline.
  events.push(row(ago(600), nurse, DEVICES.ward, 'login-offline', null, { offline: true }));
  if (first) events.push(row(ago(598), nurse, DEVICES.ward, 'allergies-view', first, { offline: true }));
  if (second) events.push(row(ago(597), nurse, DEVICES.ward, 'medications-view', second, { offline: true }));

  // Emergency access to the other ward's patient, 90 minutes ago, ended after 14.
  const started = ago(90);
  const etreat = { purpose: 'ETREAT' as const };
  const viewed = [
    row(ago(90), nurse, DEVICES.other, 'break-glass-start', away, etreat),
    row(ago(89), nurse, DEVICES.other, 'chart-open', away, etreat),
    row(ago(88), nurse, DEVICES.other, 'allergies-view', away, etreat),
    row(ago(85), nurse, DEVICES.other, 'vitals-view', away, etreat),
    row(ago(76), nurse, DEVICES.other, 'break-glass-stop', away, etreat),
  ];
  events.push(...viewed);
  const pending: BreakGlassAccess = {
    access_id: PENDING_ACCESS_ID,
    user: nurse,
    device: DEVICES.other,
    patient: away,
    reason: 'Found collapsed in the corridor outside 7B; needed allergies before giving anything',
    started_at: started.toISOString(),
    expires_at: new Date(started.getTime() + 60 * MINUTE).toISOString(),
    ended_at: ago(76).toISOString(),
    minutes: 14,
    viewed,
    status: 'pending',
    review: null,
  };
  const earlier = ago(3 * 24 * 60);
  const reviewedViews = [row(earlier, clinician, DEVICES.ed, 'chart-open', away, etreat)];
  events.push(...reviewedViews);
  const reviewed: BreakGlassAccess = {
    access_id: REVIEWED_ACCESS_ID,
    user: clinician,
    device: DEVICES.ed,
    patient: away,
    reason: 'Admitted through ED overnight, ward record not yet transferred',
    started_at: earlier.toISOString(),
    expires_at: new Date(earlier.getTime() + 60 * MINUTE).toISOString(),
    ended_at: null,
    minutes: 60,
    viewed: reviewedViews,
    status: 'justified',
    review: {
      outcome: 'justified',
      note: 'ED admission confirmed with the bed manager; access appropriate.',
      reviewed_by: officer,
      reviewed_at: ago(2 * 24 * 60).toISOString(),
    },
  };

  return {
    roles: { [PRIVACY_USER.username]: ['privacy_officer'] },
    patients,
    users: [clinician, nurse, officer],
    events,
    accesses: [pending, reviewed],
    chains: [
      {
        device: DEVICES.ed,
        revoked: false,
        events: 0,
        last_sequence: null,
        last_recorded_at: null,
        last_received_at: null,
        state: 'empty',
        broken_at: null,
        findings: [],
      },
      {
        device: DEVICES.ward,
        revoked: false,
        events: 2_417,
        last_sequence: 2_417,
        last_recorded_at: ago(5).toISOString(),
        last_received_at: ago(4).toISOString(),
        state: 'continuous',
        broken_at: null,
        findings: [],
      },
      {
        device: DEVICES.other,
        revoked: false,
        events: 311,
        last_sequence: 312,
        last_recorded_at: ago(70).toISOString(),
        last_received_at: ago(69).toISOString(),
        state: 'broken',
        broken_at: { sequence: 118, kind: 'audit_gap' },
        findings: [{ detected_at: ago(2 * 24 * 60).toISOString(), kind: 'audit_gap', position: 118, detail: 'upload refused' }],
      },
    ],
  };
}
