// The privacy officer's workspace end to end: the real app in WebKitGTK
// against the real sync service and PostgreSQL (wardbook-stack, which adds a
// privacy officer, privacy.synthetic, beside the clinicians). A nurse opens
// another ward's patient by break-the-glass; the privacy officer signs in on
// the same workstation, lands on the workspace, opens that patient's access
// report (the nurse's emergency views listed) and reviews the access, which
// the service then holds as reviewed, by the officer, with the note. Every
// view is an HCOMPL event in the workstation's own audit trail. The steps
// run in order and build on each other.

import { $, $$, browser, expect } from '@wdio/globals';

import {
  localAudit,
  readSessionRecord,
  saveScreenshot,
  signIn,
  stackInfo,
  stackScalar,
  writeSessionRecord,
  type SessionRecord,
} from '../support.ts';

const record: SessionRecord = readSessionRecord() ?? { openedPatientIds: [], phiStrings: [] };
const info = stackInfo();
const nurse = info.users[0]!;
const officer = info.users.find((u) => u.username === 'privacy.synthetic');
const REASON = 'Found collapsed outside the ward; synthetic e2e reason';
const NOTE = 'Seen in the corridor by this nurse; emergency access appropriate (synthetic e2e review).';

let patientId = '';
let accessId = '';

/** The number a status-bar item shows. */
async function statusCount(testId: string): Promise<number> {
  const text = await $(`[data-testid="${testId}"]`).getText();
  const match = /(\d+)/.exec(text);
  return match ? Number(match[1]) : NaN;
}

describe('The privacy officer’s workspace', () => {
  after(() => writeSessionRecord(record));

  it('has a nurse open another ward’s patient by break-the-glass, to be reviewed', async () => {
    if (!officer) throw new Error('wardbook-stack lists no privacy officer (privacy.synthetic)');
    await signIn(browser, nurse.username, nurse.password);
    await browser.waitUntil(async () => (await $$('[data-testid="census-row"]').length) > 0, {
      timeout: 60_000,
      timeoutMsg: 'the census showed no patient within 60 s',
    });
    // A clinician is never offered the workspace.
    await expect($('[data-testid="nav-privacy"]')).not.toBeExisting();
    await $('[data-testid="break-glass"]').click();
    await $('[data-testid="break-glass-mrn"]').setValue(info.out_of_scope_mrn);
    await $('[data-testid="break-glass-reason"]').setValue(REASON);
    await $('[data-testid="break-glass-submit"]').click();
    await $('[data-testid="break-glass-banner"]').waitForDisplayed({ timeout: 20_000 });
    const start = localAudit().filter((e) => e.subtype === 'break-glass-start').pop();
    patientId = start?.patient_id ?? '';
    expect(patientId).not.toBe('');
    const name = (await $('[data-testid="patient-name"]').getText()).trim();
    record.openedPatientIds.push(patientId);
    record.phiStrings.push(info.out_of_scope_mrn, ...name.split(/\s+SYN-/)[0]!.split(', ').filter((s) => s.length >= 3));
    writeSessionRecord(record);
    accessId = await stackScalar(
      `SELECT id::text FROM break_glass_accesses WHERE patient_id = '${patientId}' AND review_status = 'pending'
        ORDER BY started_at DESC LIMIT 1`,
    );
    // The nurse's views reach the service before the review.
    await browser.waitUntil(async () => (await statusCount('status-pending-audit').catch(() => NaN)) === 0, {
      timeout: 60_000,
      timeoutMsg: 'the audit trail was not uploaded within 60 s',
    });
    await $('[data-testid="sign-out"]').click();
  });

  it('signs the privacy officer in onto the workspace, without the ward’s actions', async () => {
    await signIn(browser, officer!.username, officer!.password);
    await $('[data-testid="privacy-workspace"]').waitForDisplayed({
      timeout: 30_000,
      timeoutMsg: 'the privacy workspace did not open within 30 s of the officer signing in',
    });
    await expect($('[data-testid="break-glass"]')).not.toBeExisting();
    await expect($('[data-testid="census-row"]')).not.toBeExisting();
    await expect($('[data-testid="privacy-tab-reviews"]')).toHaveText(expect.stringMatching(/\(\d+\)/));
    await saveScreenshot(browser, 'privacy-workspace');
  });

  it('opens the patient’s access report: the nurse’s emergency views, audited here as HCOMPL', async () => {
    const before = Math.max(0, ...localAudit().map((e) => e.sequence));
    await $('[data-testid="report-mrn"]').setValue(info.out_of_scope_mrn);
    await $('[data-testid="access-report-submit"]').click();
    await $('[data-testid="access-report"]').waitForDisplayed({ timeout: 30_000 });
    await expect($('[data-testid="access-report-subject"]')).toHaveText(expect.stringContaining(info.out_of_scope_mrn));
    const rows = await browser.execute(() =>
      Array.from(document.querySelectorAll('[data-testid="access-row"]')).map((r) => ({
        subtype: r.getAttribute('data-subtype'),
        purpose: r.getAttribute('data-purpose'),
        text: r.textContent ?? '',
      })),
    );
    const emergency = rows.filter((r) => r.purpose === 'ETREAT' && r.text.includes(nurse.username));
    expect(emergency.map((r) => r.subtype)).toEqual(expect.arrayContaining(['break-glass-start', 'chart-open']));
    const viewed = localAudit().find((e) => e.sequence > before && e.subtype === 'access-report-view');
    expect(viewed?.patient_id).toBe(patientId);
    expect(viewed?.purpose_of_use).toBe('HCOMPL');
    await saveScreenshot(browser, 'privacy-access-report');
  });

  it('reviews the break-the-glass access: stored by the service with the note, reviewer and time', async () => {
    const before = Math.max(0, ...localAudit().map((e) => e.sequence));
    await $('[data-testid="privacy-tab-reviews"]').click();
    const card = $(`[data-testid="break-glass-access"][data-access-id="${accessId}"]`);
    await card.waitForDisplayed({ timeout: 30_000, timeoutMsg: 'the access is not in the review queue' });
    await expect(card.$('[data-testid="access-reason"]')).toHaveText(REASON);
    await expect(card.$('[data-testid="access-viewed"]')).toBeDisplayed();
    await card.$('[data-testid="review-justified"]').click();
    await card.$('[data-testid="review-note"]').setValue(NOTE);
    await saveScreenshot(browser, 'privacy-break-glass-review');
    await card.$('[data-testid="review-submit"]').click();
    await card.$('[data-testid="access-review"]').waitForDisplayed({ timeout: 30_000 });
    await expect(card).toHaveAttribute('data-status', 'justified');
    await saveScreenshot(browser, 'privacy-break-glass-reviewed');

    const stored = await stackScalar(
      `SELECT review_status || '|' || u.username || '|' || (review_note = '${NOTE.replace(/'/g, "''")}')::text || '|' ||
              (reviewed_at > now() - interval '5 minutes')::text
         FROM break_glass_accesses b JOIN users u ON u.id = b.reviewed_by WHERE b.id = '${accessId}'`,
    );
    expect(stored).toBe(`justified|${officer!.username}|true|true`);
    const reviewed = localAudit().find((e) => e.sequence > before && e.subtype === 'break-glass-review');
    expect(reviewed?.action).toBe('create');
    expect(reviewed?.patient_id).toBe(patientId);
    await $('[data-testid="sign-out"]').click();
  });
});
