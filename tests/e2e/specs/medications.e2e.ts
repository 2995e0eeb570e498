// Medications end to end: the real app in WebKitGTK against the real sync
// service and PostgreSQL (wardbook-stack, its synthetic ward loaded with
// medication orders and the last day's doses, due times in UTC: wdio.conf.ts
// runs the app with WARDBOOK_HOSPITAL_TIME_ZONE=UTC). The census's NEWS2 and
// next-due columns; a patient's Medications tab; a dose recorded with the
// service stopped, shown pending, then confirmed once the service is back
// and held by the server; the ward MAR printout, one audited print per
// patient. The steps run in order and build on each other.

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
const nurse = stackInfo().users[0]!;

/** What one census row shows in its medication and NEWS2 columns. */
interface CensusLine {
  id: string;
  allergyCount: number;
  risk: string | null;
  total: string | null;
  complete: string | null;
  nextDueAt: string | null;
  nextDueText: string;
  overdue: string | null;
}

/** The dose this spec records: a scheduled slot of an active, not high-alert order. */
let patientId = '';
let orderId = '';
let dueAt = '';
let administrationId = '';
let pendingBefore = 0;
let serviceStopped = false;

const slot = () => $(`[data-testid="mar-slot"][data-order-id="${orderId}"][data-due-at="${dueAt}"]`);

async function waitForText(testId: string, pattern: RegExp, timeout: number, what: string): Promise<void> {
  const el = $(`[data-testid="${testId}"]`);
  await browser.waitUntil(async () => pattern.test(await el.getText().catch(() => '')), {
    timeout,
    timeoutMsg: `${what} (${testId} never matched ${pattern} within ${timeout / 1000} s)`,
  });
}

/** A status-bar count (its data-count). */
async function statusCount(testId: string): Promise<number> {
  const value = await $(`[data-testid="${testId}"]`).getAttribute('data-count').catch(() => null);
  return value === null ? NaN : Number(value);
}

async function waitForCount(testId: string, expected: number, timeout: number): Promise<void> {
  await browser.waitUntil(async () => (await statusCount(testId)) === expected, {
    timeout,
    timeoutMsg: `${testId} did not reach ${expected} within ${timeout / 1000} s (it shows ${await statusCount(testId)})`,
  });
}

async function waitForCensus(): Promise<void> {
  await browser.waitUntil(async () => (await $$(ROW).length) > 0, {
    timeout: 60_000,
    timeoutMsg: 'the ward census showed no patient rows within 60 s',
  });
}

/** The census as shown, one line per row. */
async function censusLines(): Promise<CensusLine[]> {
  return browser.execute((sel: string) => {
    return Array.from(document.querySelectorAll(sel)).map((row) => {
      const news = row.querySelector('[data-testid="census-news2"]');
      const due = row.querySelector('[data-testid="census-next-due"]');
      return {
        id: row.getAttribute('data-patient-id') ?? '',
        allergyCount: Number(row.getAttribute('data-allergy-count') ?? '0'),
        risk: news?.getAttribute('data-risk') ?? null,
        total: news?.getAttribute('data-total') ?? null,
        complete: news?.getAttribute('data-complete') ?? null,
        nextDueAt: due?.querySelector('time')?.getAttribute('datetime') ?? null,
        nextDueText: (due?.textContent ?? '').trim(),
        overdue: row.querySelector('[data-testid="census-overdue"]')?.getAttribute('data-count') ?? null,
      };
    });
  }, ROW);
}

/** The patients a server query lists, as a sorted array (the query answers ids joined by commas). */
async function serverIds(sql: string): Promise<string[]> {
  const joined = await stackScalar(`SELECT coalesce(string_agg(DISTINCT patient_id::text, ','), '') FROM (${sql}) q`);
  return joined === '' ? [] : joined.split(',').sort();
}

const sorted = (ids: string[]) => [...ids].sort();
const within = (ids: string[], census: CensusLine[]) => ids.filter((id) => census.some((c) => c.id === id));

describe('Medications on a ward workstation', () => {
  before(async () => {
    await signIn(browser, nurse.username, nurse.password);
  });

  after(async () => {
    writeSessionRecord(record);
    // Later specs expect the service up, whatever happened here.
    if (serviceStopped) await stackCommand('start-service');
  });

  it('shows NEWS2 and the next due dose for each patient on the census', async () => {
    await waitForCensus();
    // Each column is computed when the census is read: read it again once
    // the initial sync is complete (its vitals and orders all cached).
    await waitForText('status-data-age', /^Data synced/, 120_000, 'the initial sync did not complete');
    await $('[data-testid="nav-settings"]').click();
    await $('[data-testid="back-to-census"]').click();
    await waitForCensus();

    // Everything identifying on screen (the ward MAR prints every name), to prove later that no log holds it.
    const phi = await browser.execute((sel: string) => {
      const out: string[] = [];
      for (const row of Array.from(document.querySelectorAll(sel))) {
        const [name, mrn] = Array.from(row.querySelectorAll('th, td')).map((c) => (c.firstChild?.textContent ?? '').trim());
        if (name) {
          out.push(name);
          const [family, given] = name.split(', ');
          if (family && given) out.push(`${given} ${family.charAt(0)}${family.slice(1).toLowerCase()}`);
        }
        if (mrn) out.push(mrn);
      }
      return out;
    }, ROW);
    record.phiStrings.push(...phi);
    writeSessionRecord(record);

    const census = await censusLines();
    const ids = census.map((c) => c.id);
    // NEWS2: a score (0 to 20, with its risk) exactly for the patients with vital signs in the
    // last 12 hours (the app's news2_max_age_hours), "—" for the others. Five minutes either
    // side of the cut-off are left out: a reading may cross it between the two reads.
    for (const line of census) {
      expect(line.risk).not.toBeNull();
      if (line.risk === 'none') expect(line.total).toBeNull();
      else {
        expect(['low', 'low-medium', 'medium', 'high']).toContain(line.risk);
        expect(['true', 'false']).toContain(line.complete);
        expect(Number(line.total)).toBeGreaterThanOrEqual(0);
        expect(Number(line.total)).toBeLessThanOrEqual(20);
      }
    }
    const vitals = `SELECT patient_id FROM observations WHERE category = 'vital-signs' AND NOT deleted AND status <> 'entered-in-error'`;
    const recent = within(await serverIds(`${vitals} AND effective_at >= now() - interval '11 hours 55 minutes'`), census);
    const recentish = within(await serverIds(`${vitals} AND effective_at >= now() - interval '12 hours 5 minutes'`), census);
    const scored = census.filter((c) => c.total !== null).map((c) => c.id);
    expect(recent.length).toBeGreaterThan(0);
    for (const id of recent) expect(scored).toContain(id);
    for (const id of scored) expect(recentish).toContain(id);

    // Next due: a time and a medication for every patient with an active scheduled order (each
    // has a dose within the next day), "None due" for the others; an overdue count for all.
    const scheduled = within(
      await serverIds(
        `SELECT patient_id FROM medication_requests WHERE status = 'active' AND NOT deleted
           AND body->'timing'->>'kind' IN ('fixed_times', 'every_hours', 'times_per_day')`,
      ),
      census,
    );
    expect(scheduled.length).toBeGreaterThan(0);
    expect(sorted(census.filter((c) => c.nextDueAt !== null).map((c) => c.id))).toEqual(scheduled);
    const earliest = Date.now() - 61 * 60_000;
    for (const line of census) {
      expect(Number.isInteger(Number(line.overdue))).toBe(true);
      if (line.nextDueAt === null) expect(line.nextDueText).toBe('None due');
      else {
        expect(Date.parse(line.nextDueAt)).toBeGreaterThan(earliest);
        expect(Date.parse(line.nextDueAt)).toBeLessThan(Date.now() + 25 * 3_600_000);
        expect(line.nextDueText.length).toBeGreaterThan(12);
      }
    }
    expect(ids.length).toBeGreaterThan(1);
    await saveScreenshot(browser, 'census-news2');
  });

  it("opens a patient's Medications tab: current orders and the MAR grid", async () => {
    // A patient without active allergies whose next dose is due: one of their active orders that
    // is not high-alert has a slot still to give (the checks have nothing to stop).
    const census = await censusLines();
    const candidates = census.filter((c) => c.allergyCount === 0 && c.nextDueAt !== null).map((c) => c.id);
    expect(candidates.length).toBeGreaterThan(0);
    for (const id of candidates.slice(0, 6)) {
      await $(`${ROW}[data-patient-id="${id}"] th`).click();
      await $('[data-testid="allergy-banner"]').waitForDisplayed({ timeout: 30_000 });
      record.openedPatientIds.push(id);
      writeSessionRecord(record);
      await $('[data-testid="tab-medications"]').click();
      await $('[data-testid="medications-tab"]').waitForDisplayed({ timeout: 30_000 });
      await $('[data-testid="mar-grid"]').waitForExist({ timeout: 30_000 });
      const choice = await browser.execute(() => {
        const eligible = Array.from(
          document.querySelectorAll(
            '[data-testid="medication-orders"] [data-testid="medication-order"][data-status="active"][data-high-alert="false"]',
          ),
        ).map((r) => r.getAttribute('data-order-id'));
        const rank: Record<string, number> = { 'due-now': 0, overdue: 1, future: 2 };
        const now = Date.now();
        const slots = Array.from(document.querySelectorAll('[data-testid="mar-slot"]'))
          .map((s) => ({
            orderId: s.getAttribute('data-order-id') ?? '',
            dueAt: s.getAttribute('data-due-at') ?? '',
            state: s.getAttribute('data-state') ?? '',
          }))
          .filter((s) => eligible.includes(s.orderId) && s.state in rank)
          .sort((a, b) => rank[a.state]! - rank[b.state]! || Math.abs(Date.parse(a.dueAt) - now) - Math.abs(Date.parse(b.dueAt) - now));
        return slots[0] ?? null;
      });
      if (choice) {
        patientId = id;
        orderId = choice.orderId;
        dueAt = choice.dueAt;
        break;
      }
      await $('[data-testid="back-to-census"]').click();
      await waitForCensus();
    }
    expect(patientId).not.toBe('');

    const orders = await $$('[data-testid="medication-orders"] [data-testid="medication-order"]').length;
    expect(orders).toBeGreaterThanOrEqual(1);
    await expect($(`[data-testid="medication-order"][data-order-id="${orderId}"] [data-testid="order-timing"]`)).toBeDisplayed();
    expect(await $$('[data-testid="mar-row"]').length).toBeGreaterThanOrEqual(1);
    expect(await $$('[data-testid="mar-slot"]').length).toBeGreaterThanOrEqual(2);
    await expect($(`[data-testid="mar-row"][data-order-id="${orderId}"]`)).toBeDisplayed();
    // The allergy banner comes before the orders.
    const bannerFirst = await browser.execute(() => {
      const banner = document.querySelector('[data-testid="allergy-banner"]');
      const orders = document.querySelector('[data-testid="medication-orders"]');
      return !!banner && !!orders && (banner.compareDocumentPosition(orders) & Node.DOCUMENT_POSITION_FOLLOWING) !== 0;
    });
    expect(bannerFirst).toBe(true);
    await expect($('[data-testid="double-dose-banner"]')).not.toBeExisting();
    expect(localAudit().some((e) => e.subtype === 'medications-view' && e.patient_id === patientId)).toBe(true);
    // The orders and the whole grid in one view.
    await $('[data-testid="mar-grid"]').scrollIntoView({ block: 'end' });
    await saveScreenshot(browser, 'medications-tab');
  });

  it('records a dose with the service stopped: given, pending sync, counted in the status bar', async () => {
    expect(orderId).not.toBe('');
    await stackCommand('stop-service');
    serviceStopped = true;
    await waitForText('status-online', /Offline/, 45_000, 'the status bar did not say offline');
    pendingBefore = await statusCount('status-pending-edits');
    expect(Number.isInteger(pendingBefore)).toBe(true);

    await slot().click();
    const form = $('[data-testid="record-dose"]');
    await form.waitForDisplayed({ timeout: 15_000, timeoutMsg: 'choosing a due dose on the MAR did not open the dose form' });
    await expect($('[data-testid="dose-given"]')).toBeSelected();
    // The ordered dose is the default.
    expect(await $('[data-testid="dose-value"]').getValue()).not.toBe('');
    await $('[data-testid="record-dose-submit"]').click();

    // Saved (the form closes, the slot is given and pending) or refused, with the app's reason.
    await browser.waitUntil(
      async () =>
        (await slot().getAttribute('data-pending').catch(() => null)) === 'true' ||
        (await $('[data-testid="record-dose-error"]').isExisting()) ||
        (await $('[data-testid="check-finding"]').isExisting()),
      { timeout: 20_000, timeoutMsg: 'the dose was neither saved nor refused within 20 s' },
    );
    if (await $('[data-testid="record-dose-error"]').isExisting()) {
      throw new Error(`recording the dose failed: ${await $('[data-testid="record-dose-error"]').getText()}`);
    }
    if (await $('[data-testid="check-finding"]').isExisting()) {
      throw new Error(`a dose with nothing to check was held back: ${await $('[data-testid="check-findings"]').getText()}`);
    }
    await expect(form).not.toBeExisting();
    await expect(slot()).toHaveAttribute('data-state', 'given');
    await expect(slot().$('[data-testid="slot-pending"]')).toHaveText(expect.stringContaining('Pending'));

    // The record is listed, pending sync, under this nurse.
    const pendingIds = await browser.execute(() =>
      Array.from(document.querySelectorAll('[data-testid="administrations-table"] [data-testid="administration-row"]'))
        .filter((row) => row.querySelector('[data-testid="pending-badge"]'))
        .map((row) => row.getAttribute('data-administration-id') ?? ''),
    );
    expect(pendingIds.length).toBe(1);
    administrationId = pendingIds[0]!;
    expect(administrationId).not.toBe('');
    const row = $(`[data-testid="administration-row"][data-administration-id="${administrationId}"]`);
    await expect(row).toHaveAttribute('data-status', 'completed');
    await expect(row.$('[data-testid="pending-badge"]')).toHaveText(expect.stringContaining('Pending sync'));
    await waitForCount('status-pending-edits', pendingBefore + 1, 15_000);

    await slot().scrollIntoView({ block: 'center' });
    await saveScreenshot(browser, 'dose-offline');
  });

  it('confirms the dose once the service is back: no longer pending, and the server holds it', async () => {
    expect(administrationId).not.toBe('');
    await stackCommand('start-service');
    serviceStopped = false;
    await waitForText('status-online', /Online/, 60_000, 'the status bar did not return to online');
    await waitForCount('status-pending-edits', pendingBefore, 60_000);

    // The tab reads the cache when asked: refresh until the slot is confirmed (bounded).
    await browser.waitUntil(
      async () => {
        if ((await slot().getAttribute('data-pending').catch(() => null)) === 'false') return true;
        const refresh = $('[data-testid="mar-refresh"]');
        if (await refresh.isEnabled().catch(() => false)) await refresh.click();
        return false;
      },
      { timeout: 60_000, interval: 1_000, timeoutMsg: 'the dose still showed "Pending" 60 s after the edits were uploaded' },
    );
    await expect(slot()).toHaveAttribute('data-state', 'given');
    await expect(slot().$('[data-testid="slot-pending"]')).not.toBeExisting();
    const row = $(`[data-testid="administrations-table"] [data-testid="administration-row"][data-administration-id="${administrationId}"]`);
    await expect(row).toBeDisplayed();
    await expect(row.$('[data-testid="pending-badge"]')).not.toBeExisting();

    const held = await stackScalar(
      `SELECT count(*) FROM medication_administrations
         WHERE id = '${administrationId}' AND patient_id = '${patientId}' AND request_id = '${orderId}'
           AND due_at = '${dueAt}' AND status = 'completed' AND NOT deleted AND NOT synthetic AND given_at >= '${startedAt}'`,
    );
    expect(Number(held)).toBe(1);
    // One record for that due dose: nothing doubled on the way.
    const forSlot = await stackScalar(
      `SELECT count(*) FROM medication_administrations WHERE request_id = '${orderId}' AND due_at = '${dueAt}' AND NOT deleted`,
    );
    expect(Number(forSlot)).toBe(1);
    await slot().scrollIntoView({ block: 'center' });
    await saveScreenshot(browser, 'dose-confirmed');
  });

  it('prints the ward MAR: a page per census patient, allergies first, blank slots; each an audited print', async () => {
    await $('[data-testid="back-to-census"]').click();
    await waitForCensus();
    const census = await censusLines();
    const ids = census.map((c) => c.id);
    const lastSequence = Math.max(0, ...localAudit().map((e) => e.sequence));

    await $('[data-testid="ward-mar-print"]').click();
    const view = $('[data-testid="mar-print-view"]');
    await view.waitForDisplayed({ timeout: 60_000, timeoutMsg: 'the ward MAR was not ready within 60 s' });
    await expect(view).toHaveAttribute('data-pages', String(ids.length));
    await expect($('[data-testid="print-mar-now"]')).toBeDisplayed();
    await expect($('[data-testid="mar-print-hours"]')).toHaveValue('24');

    const pages = await browser.execute(() =>
      Array.from(document.querySelectorAll('[data-testid="mar-page"]')).map((page) => {
        const banner = page.querySelector('[data-testid="allergy-banner"]');
        const orders = page.querySelector(':scope > h3');
        return {
          id: page.getAttribute('data-patient-id') ?? '',
          bannerFirst:
            !!banner && !!orders && (banner.compareDocumentPosition(orders) & Node.DOCUMENT_POSITION_FOLLOWING) !== 0,
          allergyItems: page.querySelectorAll('[data-testid="allergy-item"]').length,
          blank: page.querySelectorAll('[data-testid="paper-slot"][data-blank="true"]').length,
          recorded: page.querySelectorAll('[data-testid="paper-slot"][data-blank="false"]').length,
        };
      }),
    );
    // Every patient on the census, once each.
    expect(sorted(pages.map((p) => p.id))).toEqual(sorted(ids));
    for (const page of pages) {
      const line = census.find((c) => c.id === page.id)!;
      expect({ id: page.id, bannerFirst: page.bannerFirst }).toEqual({ id: page.id, bannerFirst: true });
      expect(page.allergyItems).toBeGreaterThanOrEqual(line.allergyCount);
      // A dose still to give (the census's next due) is a blank slot to chart on paper.
      if (line.nextDueAt !== null) expect(page.blank).toBeGreaterThanOrEqual(1);
    }
    // The dose given above is on its patient's page, as given.
    expect(pages.find((p) => p.id === patientId)!.recorded).toBeGreaterThanOrEqual(1);
    await saveScreenshot(browser, 'ward-mar-print');

    // One print event per patient printed, in the workstation's audit trail ...
    const printed = localAudit().filter((e) => e.sequence > lastSequence && e.subtype === 'print');
    expect(sorted(printed.map((e) => e.patient_id ?? ''))).toEqual(sorted(ids));
    // ... and on the server once uploaded (the next sync, every 2 s here; the status bar's
    // count may not have seen them yet, so ask the server).
    const uploaded = () =>
      stackScalar(
        `SELECT count(DISTINCT patient_id) || '/' || count(*) FROM audit_events
           WHERE subtype = 'print' AND sequence IN (${printed.map((e) => e.sequence).join(', ')})`,
      );
    const expected = `${ids.length}/${ids.length}`;
    let last = '';
    await browser
      .waitUntil(async () => (last = await uploaded()) === expected, { timeout: 60_000, interval: 1_000 })
      .catch(() => {
        throw new Error(`the server held ${last} (patients/events) of the ${expected} print events after 60 s`);
      });
  });
});
