// A clinician's shift at a shared workstation, end to end: the real app in
// WebKitGTK against the real sync service and PostgreSQL (wardbook-stack,
// started by wdio.conf.ts with a short idle lock). The steps run in order
// and build on each other, as a shift does.

import { $, $$, browser, expect } from '@wdio/globals';

import {
  localAudit,
  readSessionRecord,
  saveScreenshot,
  signIn,
  stackCommand,
  stackInfo,
  stackScalar,
  writeSessionRecord,
  type SessionRecord,
} from '../support.ts';

const ROW = '[data-testid="census-row"]';
const record: SessionRecord = readSessionRecord() ?? { openedPatientIds: [], phiStrings: [] };
const startedAt = new Date().toISOString();

const info = stackInfo();
const nurse = info.users[0]!;
const doctor = info.users[1]!;

let patientId = '';
/** The verification status the clinician sets offline (not what the server holds). */
let verificationMine = 'confirmed';
/** The allergy both the server and the clinician change. */
let allergyId = '';
let patientName = '';
/** The last local audit sequence before the chart was first opened. */
let beforeOpen = 0;

async function waitForText(testId: string, pattern: RegExp, timeout: number, what: string): Promise<void> {
  const el = $(`[data-testid="${testId}"]`);
  await browser.waitUntil(async () => pattern.test(await el.getText().catch(() => '')), {
    timeout,
    timeoutMsg: `${what} (${testId} never matched ${pattern} within ${timeout / 1000} s)`,
  });
}

/** The number in a status-bar item. */
async function statusCount(testId: string): Promise<number> {
  const text = await $(`[data-testid="${testId}"]`).getText();
  const match = /(\d+)/.exec(text);
  return match ? Number(match[1]) : NaN;
}

async function waitForCount(testId: string, expected: number, timeout: number): Promise<void> {
  await browser.waitUntil(async () => (await statusCount(testId).catch(() => NaN)) === expected, {
    timeout,
    timeoutMsg: `${testId} did not reach ${expected} within ${timeout / 1000} s`,
  });
}

async function openTab(name: 'vitals' | 'labs' | 'allergies'): Promise<void> {
  await $(`[data-testid="tab-${name}"]`).click();
}

async function openChartFromCensus(id: string): Promise<void> {
  await $(`${ROW}[data-patient-id="${id}"] th`).click();
  await $('[data-testid="allergy-banner"]').waitForDisplayed({ timeout: 30_000 });
  record.openedPatientIds.push(id);
  writeSessionRecord(record);
}

describe('A clinician at a shared ward workstation', () => {
  after(() => writeSessionRecord(record));

  it('signs in online and says so', async () => {
    await signIn(browser, nurse.username, nurse.password);
    await expect($('[data-testid="session-mode"]')).toHaveText(expect.stringContaining('Online session'));
    await expect($('[data-testid="status-bar"]')).toBeDisplayed();
  });

  it('finds a patient by typing part of the name and opens the chart, allergies first', async () => {
    // The in-scope patient's id and name, from the central database.
    const row = await stackCommand(`patient ${info.in_scope_mrn}`);
    patientId = row.rows?.[0]?.[0] ?? '';
    patientName = row.rows?.[0]?.[1] ?? '';
    expect(patientId).not.toBe('');
    record.phiStrings.push(info.in_scope_mrn, patientName);
    writeSessionRecord(record);

    await browser.waitUntil(async () => (await $$(ROW).length) > 0, {
      timeout: 60_000,
      timeoutMsg: 'the census stayed empty: the initial sync did not arrive within 60 s',
    });
    await saveScreenshot(browser, 'census');
    const search = $('[data-testid="patient-search"]');
    await search.click();
    await search.setValue(patientName.slice(0, Math.min(4, patientName.length)));
    await $(`${ROW}[data-patient-id="${patientId}"]`).waitForDisplayed({
      timeout: 10_000,
      timeoutMsg: 'typing part of the family name did not list the patient',
    });
    beforeOpen = Math.max(0, ...localAudit().map((e) => e.sequence));
    await openChartFromCensus(patientId);

    const order = await browser.execute(() => {
      const banner = document.querySelector('[data-testid="allergy-banner"]');
      const tabs = document.querySelector('[data-testid="tab-vitals"]');
      return !!banner && !!tabs && (banner.compareDocumentPosition(tabs) & Node.DOCUMENT_POSITION_FOLLOWING) !== 0;
    });
    expect(order).toBe(true);
    const title = await browser.getTitle();
    expect(title).not.toContain(patientName);
  });

  it('plots the vitals, and the chart open (one event) and tab views are in the local audit table', async () => {
    await openTab('vitals');
    const plot = $('[data-testid="vitals-plot-heart-rate"] canvas');
    await plot.waitForExist({ timeout: 20_000 }).catch(async () => {
      const reason = await $('[data-testid="vitals-plot-heart-rate"] [data-testid="plot-failed"]')
        .getAttribute('data-reason')
        .catch(() => null);
      throw new Error(`no uPlot canvas for heart rate within 20 s (${reason ?? 'no error reported'})`);
    });
    const size = await browser.execute(
      (sel: string) => {
        const c = document.querySelector(sel) as HTMLCanvasElement | null;
        return c ? [c.width, c.height] : [0, 0];
      },
      '[data-testid="vitals-plot-heart-rate"] canvas',
    );
    expect(size[0]).toBeGreaterThan(100);
    expect(size[1]).toBeGreaterThan(50);
    await expect($('[data-testid="vitals-plot-blood-pressure"]')).toBeDisplayed();
    await saveScreenshot(browser, 'chart-with-plots');

    await openTab('labs');
    await $('[data-testid="labs-panel"]').waitForDisplayed();
    const events = localAudit();
    // The header, the allergies and the vitals the chart opened on are one
    // chart-open; the labs tab is its own event.
    const mine = events
      .filter((e) => e.patient_id === patientId && e.sequence > beforeOpen)
      .sort((a, b) => a.sequence - b.sequence)
      .map((e) => e.subtype);
    expect(mine).toEqual(['chart-open', 'labs-view']);
    expect(events.some((e) => e.subtype === 'login')).toBe(true);
  });

  it('shows offline when the service stops, and records vitals and an allergy change as pending', async () => {
    await stackCommand('stop-service');
    await waitForText('status-online', /Offline/, 45_000, 'the status bar did not say offline');
    await saveScreenshot(browser, 'offline-status');

    // The server changes an allergy of this patient meanwhile (another ward's edit).
    allergyId = await stackScalar(
      `SELECT id::text FROM allergies WHERE patient_id = '${patientId}' AND NOT deleted ORDER BY id LIMIT 1`,
    );
    const verificationBefore = await stackScalar(`SELECT verification_status FROM allergies WHERE id = '${allergyId}'`);
    verificationMine = verificationBefore === 'confirmed' ? 'unconfirmed' : 'confirmed';
    await stackCommand(
      `sql UPDATE allergies SET criticality = 'unable-to-assess', body = jsonb_set(body, '{criticality}', '"unable-to-assess"') WHERE id = '${allergyId}'`,
    );

    await openTab('vitals');
    await $('[data-testid="record-vitals"]').click();
    const form = $('[data-testid="vitals-form"]');
    await form.waitForDisplayed();
    const values: Record<string, string> = {
      heart_rate: '88',
      systolic: '128',
      diastolic: '82',
      respiratory_rate: '16',
      temperature: '37.1',
      spo2: '97',
    };
    for (const [name, value] of Object.entries(values)) {
      await form.$(`input[name="${name}"]`).setValue(value);
    }
    await saveScreenshot(browser, 'record-vitals');
    await $('[data-testid="vitals-submit"]').click();
    await $('[data-testid="pending-badge"]').waitForDisplayed({ timeout: 15_000 });
    await waitForCount('status-pending-edits', 1, 15_000);

    // The clinician changes the verification of the allergy the server changed: a conflict to come.
    await openTab('allergies');
    const row = $(`[data-testid="allergy-row"][data-allergy-id="${allergyId}"]`);
    await row.waitForDisplayed();
    await row.$('[data-testid="edit-allergy"]').click();
    const allergyForm = $('[data-testid="allergy-form"]');
    await allergyForm.waitForDisplayed();
    await allergyForm.$('select[name="verification_status"]').selectByAttribute('value', verificationMine);
    await $('[data-testid="allergy-submit"]').click();
    await waitForCount('status-pending-edits', 2, 15_000);
  });

  it('goes back online when the service returns: nothing pending, the server holds the vitals and the views', async () => {
    await stackCommand('start-service');
    await waitForText('status-online', /Online/, 60_000, 'the status bar did not return to online');
    await waitForCount('status-pending-edits', 0, 60_000);
    await waitForCount('status-pending-audit', 0, 60_000);
    const vitals = await stackScalar(
      `SELECT count(*) FROM observations WHERE patient_id = '${patientId}' AND updated_at > '${startedAt}' AND category = 'vital-signs'`,
    );
    expect(Number(vitals)).toBe(6);
    const views = await stackScalar(
      `SELECT count(*) FROM audit_events WHERE patient_id = '${patientId}' AND subtype IN ('chart-open', 'vitals-view')`,
    );
    expect(Number(views)).toBeGreaterThanOrEqual(2);
  });

  it('shows the conflict side by side and re-applies the clinician\'s edit', async () => {
    await waitForCount('status-conflicts', 1, 30_000);
    await $('[data-testid="nav-conflicts"]').click();
    const item = $('[data-testid="conflict-item"]');
    await item.waitForDisplayed({ timeout: 15_000 });
    await expect(item.$('[data-testid="conflict-mine"]')).toBeDisplayed();
    await expect(item.$('[data-testid="conflict-server"]')).toBeDisplayed();
    // The author is named as people know them, not by user id.
    await expect(item).toHaveText(expect.stringContaining(`by ${nurse.display_name}`));
    await saveScreenshot(browser, 'conflict-view');
    await item.$('[data-testid="conflict-reapply"]').click();
    await waitForCount('status-conflicts', 0, 30_000);
    await waitForCount('status-pending-edits', 0, 60_000);
    const confirmed = await stackScalar(
      `SELECT count(*) FROM allergies WHERE id = '${allergyId}' AND verification_status = '${verificationMine}' AND criticality = 'unable-to-assess'`,
    );
    // Both changes stand: the clinician's (verification) over the server's (criticality).
    expect(Number(confirmed)).toBe(1);
    expect(localAudit().some((e) => e.subtype === 'conflicts-view')).toBe(true);
  });

  it('produces the downtime summary, audited as a print', async () => {
    await $('[data-testid="patient-search"]').waitForDisplayed().catch(() => undefined);
    const back = $('[data-testid="back-to-census"]');
    if (await back.isExisting()) await back.click();
    await $('[data-testid="patient-search"]').setValue(info.in_scope_mrn);
    await $(`${ROW}[data-patient-id="${patientId}"]`).waitForDisplayed({ timeout: 10_000 });
    await openChartFromCensus(patientId);
    // Only this summary's event counts (another spec may have printed the ward's MAR).
    const before = Math.max(0, ...localAudit().map((e) => e.sequence));
    await $('[data-testid="downtime-summary"]').click();
    await $('[data-testid="downtime-summary-view"]').waitForDisplayed({ timeout: 15_000 });
    await expect($('[data-testid="print-summary"]')).toBeDisplayed();
    expect(localAudit().some((e) => e.sequence > before && e.subtype === 'print' && e.patient_id === patientId)).toBe(true);
  });

  it('opens an out-of-scope chart by break-the-glass, only with a reason, audited as emergency', async () => {
    await $('[data-testid="break-glass"]').click();
    const form = $('[data-testid="break-glass-form"]');
    await form.waitForDisplayed();
    await $('[data-testid="break-glass-mrn"]').setValue(info.out_of_scope_mrn);
    await $('[data-testid="break-glass-submit"]').click();
    await $('[data-testid="break-glass-error"]').waitForDisplayed({ timeout: 10_000 });
    await $('[data-testid="break-glass-reason"]').setValue('Collapsed in the corridor; synthetic test reason');
    await $('[data-testid="break-glass-submit"]').click();
    await $('[data-testid="break-glass-banner"]').waitForDisplayed({ timeout: 20_000 });
    await expect($('[data-testid="allergy-banner"]')).toBeDisplayed();
    const events = localAudit();
    const start = events.find((e) => e.subtype === 'break-glass-start');
    expect(start?.purpose_of_use).toBe('ETREAT');
    expect(events.some((e) => e.subtype === 'chart-open' && e.purpose_of_use === 'ETREAT')).toBe(true);
    const flagged = await stackScalar(`SELECT count(*) FROM break_glass_accesses WHERE review_status = 'pending'`);
    expect(Number(flagged)).toBe(1);
  });

  it('locks when idle: no patient data on screen until the password is given again', async () => {
    await $('[data-testid="lock-screen"]').waitForDisplayed({
      timeout: 150_000,
      timeoutMsg: 'the idle lock (90 s in this run) did not engage within 150 s',
    });
    const page = await browser.getPageSource();
    expect(page).not.toContain(patientName);
    expect(page).not.toContain(info.in_scope_mrn);
    expect(page).not.toContain(info.out_of_scope_mrn);
    await saveScreenshot(browser, 'locked-screen');
    await $('[data-testid="unlock-password"]').setValue('not the password');
    await $('[data-testid="unlock-submit"]').click();
    await $('[data-testid="unlock-error"]').waitForDisplayed({ timeout: 15_000 });
    await $('[data-testid="unlock-password"]').setValue(nurse.password);
    await $('[data-testid="unlock-submit"]').click();
    await $('[data-testid="lock-screen"]').waitForDisplayed({ reverse: true, timeout: 15_000 });
    const events = localAudit().map((e) => e.subtype);
    for (const subtype of ['lock', 'unlock-failed', 'unlock']) expect(events).toContain(subtype);
  });

  it('signs in offline with the service stopped, for a clinician who signed in online here', async () => {
    // The doctor signs in online once, then the service goes away.
    await $('[data-testid="sign-out"]').click();
    await signIn(browser, doctor.username, doctor.password);
    await expect($('[data-testid="session-mode"]')).toHaveText(expect.stringContaining('Online session'));
    await $('[data-testid="sign-out"]').click();
    await stackCommand('stop-service');
    try {
      await signIn(browser, doctor.username, doctor.password);
      await expect($('[data-testid="session-mode"]')).toHaveText(expect.stringContaining('Offline session'));
      expect(localAudit().some((e) => e.subtype === 'login-offline')).toBe(true);
    } finally {
      await stackCommand('start-service');
    }
  });
});
