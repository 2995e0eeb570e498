// The first window, end to end: the real binary on its synthetic ward,
// served by the real sync service (wardbook-stack, started by wdio.conf.ts).
// What can only be checked once the app has exited (the audit trail, the
// logs) is checked by wdio.conf.ts's onComplete from what this spec records.

import { $, $$, browser, expect } from '@wdio/globals';

import { saveScreenshot, signIn, stackInfo, writeSessionRecord, type SessionRecord } from '../support.ts';

const ROW = '[data-testid="census-row"]';

const record: SessionRecord = { openedPatientIds: [], phiStrings: [] };

async function waitForCensus(): Promise<void> {
  await browser.waitUntil(async () => (await $$(ROW).length) > 0, {
    timeout: 60_000,
    timeoutMsg: 'the ward census showed no patient rows within 60 s',
  });
}

async function rowIds(selector: string): Promise<string[]> {
  return browser.execute(
    (sel: string) => Array.from(document.querySelectorAll(sel)).map((r) => r.getAttribute('data-patient-id') ?? ''),
    selector,
  );
}

async function openChart(patientId: string): Promise<void> {
  // WebKitWebDriver will not click a <tr> itself ("not interactable"): click its name cell.
  await $(`${ROW}[data-patient-id="${patientId}"] th`).click();
  await $('[data-testid="allergy-banner"]').waitForDisplayed({
    timeout: 30_000,
    timeoutMsg: `the chart of ${patientId} did not show its allergy banner`,
  });
  record.openedPatientIds.push(patientId);
  writeSessionRecord(record);
}

async function backToCensus(): Promise<void> {
  await $('[data-testid="back-to-census"]').click();
  await waitForCensus();
}

describe('Wardbook on a synthetic ward', () => {
  before(async () => {
    const nurse = stackInfo().users[0]!;
    await signIn(browser, nurse.username, nurse.password);
  });

  after(() => {
    writeSessionRecord(record);
  });

  it('shows the census of synthetic patients under a SYNTHETIC DATA banner', async () => {
    await waitForCensus();
    await expect($('[data-testid="synthetic-banner"]')).toBeDisplayed();
    await expect($('[data-testid="synthetic-banner"]')).toHaveText(expect.stringContaining('SYNTHETIC DATA'));
    await expect($('[data-testid="environment"]')).toHaveText(expect.stringMatching(/development/i));

    // Everything identifying on screen, to prove later that no log holds it.
    record.phiStrings = await browser.execute((sel: string) => {
      const out: string[] = [];
      for (const row of Array.from(document.querySelectorAll(sel))) {
        const cells = Array.from(row.querySelectorAll('th, td')).map((c) => (c.textContent ?? '').trim());
        const [name, mrn] = cells;
        if (name) {
          out.push(name);
          const [family, given] = name.split(', ');
          if (family && given) out.push(`${given} ${family.charAt(0)}${family.slice(1).toLowerCase()}`);
        }
        if (mrn) out.push(mrn);
      }
      return out;
    }, ROW);
    expect(record.phiStrings.length).toBeGreaterThan(0);
    writeSessionRecord(record);

    await saveScreenshot(browser, 'census');
  });

  it('opens a chart with allergies: the allergy banner comes first and lists them', async () => {
    const [patientId] = await rowIds(`${ROW}:not([data-allergy-count="0"])`);
    expect(patientId).toBeTruthy();
    await openChart(patientId as string);

    const items = await $$('[data-testid="allergy-item"]');
    expect(items.length).toBeGreaterThanOrEqual(1);
    await expect($('[data-testid="no-known-allergies"]')).not.toBeExisting();

    const bannerFirst = await browser.execute(() => {
      const banner = document.querySelector('[data-testid="allergy-banner"]');
      const header = document.querySelector('[data-testid="chart-header"]');
      if (!banner || !header) return false;
      const bannerTop = banner.getBoundingClientRect().top;
      const headerTop = header.getBoundingClientRect().top;
      return (
        (banner.compareDocumentPosition(header) & Node.DOCUMENT_POSITION_FOLLOWING) !== 0 && bannerTop < headerTop
      );
    });
    expect(bannerFirst).toBe(true);
    await expect($('[data-testid="chart-header"]')).toBeDisplayed();
    await expect($('[data-testid="synthetic-banner"]')).toBeDisplayed();

    await saveScreenshot(browser, 'chart-allergies');
    await backToCensus();
  });

  it('marks a high-criticality allergy HIGH, in words as well as colour', async function () {
    const [patientId] = await rowIds(`${ROW}[data-high-criticality="true"]`);
    if (!patientId) {
      this.skip();
      return;
    }
    await expect($(`${ROW}[data-patient-id="${patientId}"] [data-testid="allergy-flag"]`)).toHaveText(
      expect.stringContaining('HIGH'),
    );
    await openChart(patientId);
    const high = $('[data-testid="allergy-item"][data-criticality="high"]');
    await expect(high).toBeDisplayed();
    await expect(high.$('[data-testid="criticality"]')).toHaveText(expect.stringContaining('HIGH'));
    await saveScreenshot(browser, 'chart-high-criticality');
    await backToCensus();
  });

  it('says "No known allergies" for a patient without any, when the census has one', async function () {
    // A census count of 0 means no *active* allergy; a patient may still
    // have resolved or refuted ones. Look for one with none at all.
    const candidates = await rowIds(`${ROW}[data-allergy-count="0"]`);
    for (const patientId of candidates.slice(0, 5)) {
      await openChart(patientId);
      const items = await $$('[data-testid="allergy-item"]').length;
      if (items === 0) {
        await expect($('[data-testid="no-known-allergies"]')).toBeDisplayed();
        await expect($('[data-testid="no-known-allergies"]')).toHaveText('No known allergies');
        await saveScreenshot(browser, 'chart-no-known-allergies');
        await backToCensus();
        return;
      }
      await backToCensus();
    }
    this.skip();
  });
});
