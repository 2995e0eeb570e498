// The privacy officer's workspace in the in-memory backend: synthetic
// audit events, break-the-glass accesses and workstation chains, answered
// the way the service answers them (newest first, paged, names attached,
// a review final, nothing found said without echoing what was asked).

import type { AccessReport } from '../generated/AccessReport';
import type { AccessReportQuery } from '../generated/AccessReportQuery';
import type { AccessRow } from '../generated/AccessRow';
import type { AuditChainStatus } from '../generated/AuditChainStatus';
import type { BreakGlassAccess } from '../generated/BreakGlassAccess';
import type { BreakGlassQueue } from '../generated/BreakGlassQueue';
import type { BreakGlassReviewRequest } from '../generated/BreakGlassReviewRequest';
import type { DeviceChain } from '../generated/DeviceChain';
import type { PatientLabel } from '../generated/PatientLabel';
import type { PrivacyAccess } from '../generated/PrivacyAccess';
import type { QueueFilter } from '../generated/QueueFilter';
import type { Role } from '../generated/Role';
import type { UiError } from '../generated/UiError';
import type { UserLabel } from '../generated/UserLabel';

export interface PrivacyData {
  /** The roles of each user name (absent: clinician only). */
  roles: Record<string, Role[]>;
  patients: PatientLabel[];
  users: UserLabel[];
  events: AccessRow[];
  accesses: BreakGlassAccess[];
  chains: DeviceChain[];
}

export const NO_PRIVACY_DATA: PrivacyData = { roles: {}, patients: [], users: [], events: [], accesses: [], chains: [] };

/** The most rows one page holds, as in the service. */
export const MAX_PAGE_SIZE = 500;
export const NOTE_MAX_CHARS = 2000;

/** What the workspace answers: a value, or why not. */
export type Answer<T> = { value: T } | { error: UiError };

function fail(code: string, message: string): { error: UiError } {
  return { error: { code, message } };
}

/** An answer as the backend's promise. */
export function settle<T>(answer: Answer<T>): Promise<T> {
  return 'error' in answer ? Promise.reject(answer.error) : Promise.resolve(answer.value);
}

export class MemoryPrivacy {
  constructor(private readonly data: PrivacyData) {}

  roles(username: string): Role[] {
    return this.data.roles[username] ?? ['clinician'];
  }

  access(username: string): PrivacyAccess {
    const roles = this.roles(username);
    const officer = roles.includes('privacy_officer');
    return {
      privacy_officer: officer,
      clinician: !officer || roles.includes('clinician'),
      pending_reviews: officer ? this.pending() : 0,
      devices_with_findings: officer ? this.data.chains.filter((c) => c.findings.length > 0).length : 0,
    };
  }

  /** One page of the report, or why not. */
  report(query: AccessReportQuery): Answer<AccessReport> {
    const page = query.page ?? 1;
    const size = query.page_size ?? 100;
    if (page < 1 || size < 1 || size > MAX_PAGE_SIZE) {
      return fail('invalid', `page must be at least 1 and page_size between 1 and ${MAX_PAGE_SIZE}.`);
    }
    if (query.from && query.to && Date.parse(query.from) >= Date.parse(query.to)) {
      return fail('invalid', 'The period must end after it starts.');
    }
    const mrn = query.patient_mrn?.trim() ?? '';
    const patient = mrn === '' ? null : (this.data.patients.find((p) => p.mrn.toUpperCase() === mrn.toUpperCase()) ?? undefined);
    if (patient === undefined) return fail('not_found', 'No patient has that MRN. Check the number and try again.');
    const name = query.username?.trim().toLowerCase() ?? '';
    const user = name === '' ? null : (this.data.users.find((u) => u.username === name) ?? undefined);
    if (user === undefined) return fail('not_found', 'No Wardbook user has that user name. Check it and try again.');
    const rows = this.data.events
      .filter((e) => (patient ? e.patient_id === patient.id : true))
      .filter((e) => (user ? e.user.user_id === user.user_id : true))
      .filter((e) => (query.from ? Date.parse(e.recorded_at) >= Date.parse(query.from) : true))
      .filter((e) => (query.to ? Date.parse(e.recorded_at) < Date.parse(query.to) : true))
      .sort((a, b) => Date.parse(b.recorded_at) - Date.parse(a.recorded_at));
    return {
      value: {
        patient,
        user,
        from: query.from,
        to: query.to,
        rows: structuredClone(rows.slice((page - 1) * size, page * size)),
        total: rows.length,
        page,
        page_size: size,
      },
    };
  }

  pending(): number {
    return this.data.accesses.filter((a) => a.status === 'pending').length;
  }

  queue(filter: QueueFilter): BreakGlassQueue {
    const all = [...this.data.accesses];
    let accesses: BreakGlassAccess[];
    if (filter === 'pending') {
      accesses = all.filter((a) => a.status === 'pending').sort((a, b) => a.started_at.localeCompare(b.started_at));
    } else if (filter === 'reviewed') {
      accesses = all
        .filter((a) => a.status !== 'pending')
        .sort((a, b) => (b.review?.reviewed_at ?? '').localeCompare(a.review?.reviewed_at ?? ''));
    } else {
      accesses = all.sort((a, b) => b.started_at.localeCompare(a.started_at));
    }
    return { filter, accesses: structuredClone(accesses), pending: this.pending() };
  }

  review(accessId: string, review: BreakGlassReviewRequest, reviewer: UserLabel, now: Date): Answer<BreakGlassAccess> {
    if (review.note.trim().length === 0 || [...review.note].length > NOTE_MAX_CHARS) {
      return fail('invalid', 'Write a note of 1 to 2000 characters saying why the access was or was not appropriate.');
    }
    const access = this.data.accesses.find((a) => a.access_id === accessId);
    if (!access) return fail('not_found', 'There is no such break-the-glass access.');
    if (access.status !== 'pending') {
      return fail(
        'already_reviewed',
        'This break-the-glass access was already reviewed, and a review is final. Refresh the queue to see who reviewed it and why.',
      );
    }
    access.status = review.outcome;
    access.review = { outcome: review.outcome, note: review.note, reviewed_by: reviewer, reviewed_at: now.toISOString() };
    return { value: structuredClone(access) };
  }

  chains(now: Date): AuditChainStatus {
    return { checked_at: now.toISOString(), devices: structuredClone(this.data.chains) };
  }

  user(username: string): UserLabel {
    return this.data.users.find((u) => u.username === username) ?? { user_id: username, username, display_name: null };
  }
}
