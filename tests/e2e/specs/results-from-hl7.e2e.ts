// A laboratory result from the hospital's lab system, end to end: an
// ORU^R01 sent over MLLP to the real service (wardbook-stack's `hl7`
// command: a real TCP connection, the message framed, the ACK read back),
// after the ADT^A08 that files the patient's HL7 identifier; acknowledged
// AA once stored, pulled by the app at its next sync and shown on the
// chart's labs tab with the flags the lab sent (OBX-8 H and L), in words as
// well as an arrow.

import { $, $$, browser, expect } from '@wdio/globals';

import { exchangeHl7 } from '../stack.ts';
import {
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
const info = stackInfo();
const nurse = info.users[0]!;

/**
 * OBR-4: a panel the synthetic ward does not order (it has a CBC and a
 * basic metabolic panel), so its section on the labs tab holds only what
 * this spec sent, although the ward already has potassium and sodium.
 */
const PANEL = { code: '24326-1', display: 'Electrolytes 1998 panel - Serum or Plasma' };

/** Two results out of range, one each way, and how the labs tab shows them. */
const RESULTS = [
  { loinc: '2823-3', analyte: 'Potassium', value: '6.1', unit: 'mmol/L', range: '3.5-5.1', flag: 'H' },
  { loinc: '2951-2', analyte: 'Sodium', value: '128', unit: 'mmol/L', range: '135-145', flag: 'L' },
] as const;
const SHOWN = [
  { analyte: 'Potassium', result: '6.1 mmol/L', rowFlag: 'H', flag: 'H', flagText: '▲ High', range: '3.5–5.1 mmol/L', status: 'Final' },
  { analyte: 'Sodium', result: '128 mmol/L', rowFlag: 'L', flag: 'L', flagText: '▼ Low', range: '135–145 mmol/L', status: 'Final' },
];

const OUR_PANEL = `[data-testid="labs-panel"][data-panel="${PANEL.code}"]`;

/** HL7 v2 DTM in UTC, to the second: 20261205031500+0000. */
function hl7Time(at: Date): string {
  const iso = at.toISOString(); // 2026-12-05T03:15:00.000Z
  return `${iso.slice(0, 19).replace(/[-:T]/g, '')}+0000`;
}

/** PID-3: the MRN, its assigning authority and its type. */
function pid(mrn: string): string {
  return `PID|1||${mrn}^^^GENHOSP^MR`;
}

/**
 * The hospital's ADT feed announcing the patient: "update patient
 * information" with PID-3 alone (every other field empty: kept as stored).
 * The ward was loaded by `synth`, not by a feed, so no HL7 identifier is
 * filed for its patients yet, and an ORU finds its patient by PID-3 only
 * (it answers AE "send the patient's ADT first" otherwise). An ADT finds
 * the patient by MRN and files PID-3 for it: results come after ADT in a
 * hospital too.
 */
function adtA08(mrn: string, control: string, at: Date): string {
  const ts = hl7Time(at);
  return [
    `MSH|^~\\&|E2E-ADT|GENHOSP|WARDBOOK|GENHOSP|${ts}||ADT^A08^ADT_A01|${control}|T|2.5.1`,
    `EVN|A08|${ts}`,
    pid(mrn),
  ].join('\r');
}

/**
 * The lab's message: MSH-11 T (training: the rows are synthetic), the
 * patient by MRN with its assigning authority and type (PID-3), one order
 * (OBR) and a result per OBX, each observed `at` (OBX-14) so that they are
 * the patient's newest.
 */
function oru(mrn: string, control: string, at: Date): string {
  const ts = hl7Time(at);
  return [
    `MSH|^~\\&|E2E-LAB|GENHOSP|WARDBOOK|GENHOSP|${ts}||ORU^R01^ORU_R01|${control}|T|2.5.1`,
    pid(mrn),
    `OBR|1|${control}-PL|${control}-FL|${PANEL.code}^${PANEL.display}^LN|||${ts}`,
    ...RESULTS.map(
      (r, i) => `OBX|${i + 1}|NM|${r.loinc}^${r.analyte}^LN||${r.value}|${r.unit}|${r.range}|${r.flag}|||F|||${ts}`,
    ),
  ].join('\r');
}

function sqlText(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** The rows of our panel on the labs tab, as a clinician reads them. */
async function shownRows(): Promise<typeof SHOWN> {
  return browser.execute((panelSelector: string) => {
    const panel = document.querySelector(panelSelector);
    if (!panel) return [];
    return Array.from(panel.querySelectorAll('[data-testid="lab-row"]'))
      .map((row) => {
        const cells = Array.from(row.querySelectorAll('th, td')).map((c) => (c.textContent ?? '').trim());
        const badge = row.querySelector('[data-testid="result-flag"]');
        return {
          analyte: cells[0] ?? '',
          result: cells[1] ?? '',
          rowFlag: row.getAttribute('data-flag') ?? '',
          flag: badge?.getAttribute('data-flag') ?? '',
          flagText: (badge?.textContent ?? '').trim(),
          range: cells[3] ?? '',
          status: cells[4] ?? '',
        };
      })
      .sort((a, b) => a.analyte.localeCompare(b.analyte));
  }, OUR_PANEL);
}

describe('A lab result sent over HL7 v2 (MLLP)', () => {
  let patientId = '';
  /** OBX-14 of the results, to the second. */
  const observedAt = new Date(Math.floor(Date.now() / 1000) * 1000);

  before(async () => {
    await signIn(browser, nurse.username, nurse.password);
  });

  after(() => writeSessionRecord(record));

  it('is acknowledged AA by the service once stored, as two results of the in-scope patient', async () => {
    const row = await stackCommand(`patient ${info.in_scope_mrn}`);
    patientId = row.rows?.[0]?.[0] ?? '';
    expect(patientId).not.toBe('');
    record.phiStrings.push(info.in_scope_mrn, row.rows?.[0]?.[1] ?? '');
    writeSessionRecord(record);

    // Control ids of this run: a repeat would be answered AA without being applied again.
    const run = Date.now();
    const messages = [
      ['ADT^A08', adtA08(info.in_scope_mrn, `E2E-ADT-${run}`, observedAt)],
      ['ORU^R01', oru(info.in_scope_mrn, `E2E-ORU-${run}`, observedAt)],
    ] as const;
    for (const [type, message] of messages) {
      const { code, ack } = await exchangeHl7(message);
      if (code !== 'AA') {
        // The ACK names the field and the reason (MSA, ERR), never patient data.
        throw new Error(`the service answered the ${type} with ${code}, not AA: ${ack.replace(/\r/g, ' | ')}`);
      }
    }

    const stored = await stackScalar(
      `SELECT count(*) FROM observations WHERE patient_id = '${patientId}'
         AND code IN (${RESULTS.map((r) => sqlText(r.loinc)).join(', ')})
         AND effective_at = '${observedAt.toISOString()}' AND NOT deleted`,
    );
    expect(Number(stored)).toBe(RESULTS.length);
  });

  it('shows both results on the labs tab after the next sync, flagged High and Low as sent', async () => {
    expect(patientId).not.toBe('');
    await browser.waitUntil(async () => (await $$(ROW).length) > 0, {
      timeout: 60_000,
      timeoutMsg: 'the census stayed empty: the initial sync did not arrive within 60 s',
    });
    await $('[data-testid="patient-search"]').setValue(info.in_scope_mrn);
    const patientRow = $(`${ROW}[data-patient-id="${patientId}"]`);
    await patientRow.waitForDisplayed({ timeout: 10_000, timeoutMsg: 'searching by MRN did not list the patient' });
    // WebKitWebDriver will not click a <tr> itself ("not interactable"): click its name cell.
    await patientRow.$('th').click();
    await $('[data-testid="allergy-banner"]').waitForDisplayed({ timeout: 30_000 });
    record.openedPatientIds.push(patientId);
    writeSessionRecord(record);

    // The labs tab reads the local records when it opens: after each sync
    // asked for, open it again, until the results are there (bounded).
    await $('[data-testid="tab-labs"]').click();
    // Loaded: its panels, or its empty or error message, in place of "Loading…".
    const loaded = () =>
      browser.execute(
        () =>
          !!document.querySelector('.labs-tab') ||
          /No laboratory results|could not be shown/.test(document.querySelector('main')?.textContent ?? document.body.textContent ?? ''),
      );
    await browser.waitUntil(
      async () => {
        if (await $(OUR_PANEL).isExisting()) return true;
        const syncNow = $('[data-testid="sync-now"]');
        if ((await syncNow.isExisting()) && (await syncNow.isEnabled())) await syncNow.click();
        await $('[data-testid="tab-vitals"]').click();
        await $('[data-testid="tab-labs"]').click();
        await browser.waitUntil(loaded, { timeout: 10_000, timeoutMsg: 'the labs tab did not load within 10 s' });
        return $(OUR_PANEL).isExisting();
      },
      {
        timeout: 60_000,
        interval: 1_000,
        timeoutMsg: `the ${PANEL.display} results did not reach the labs tab within 60 s of the ACK (sync every 2 s, and "Sync now")`,
      },
    );

    const panel = $(OUR_PANEL);
    await expect(panel.$('h3')).toHaveText(PANEL.display);
    expect(await shownRows()).toEqual(SHOWN);
    // In words as well as colour: each badge is displayed, not just in the DOM.
    for (const flag of ['H', 'L']) {
      await expect(panel.$(`[data-testid="result-flag"][data-flag="${flag}"]`)).toBeDisplayed();
    }

    await panel.scrollIntoView({ block: 'center' });
    await saveScreenshot(browser, 'labs-from-hl7');
    await $('[data-testid="back-to-census"]').click();
  });
});
