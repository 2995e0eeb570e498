import { describe, expect, it } from 'vitest';

import { ALLERGY_CURRENT } from '../generated/AllergyCurrent';
import { BED_ORDER } from '../generated/BedOrder';
import { PATIENT_IDS, OUTSIDE_MRN, appInfo, sampleBackend } from './fixtures';
import { compareBeds } from './memory';

describe('MemoryBackend', () => {
  it('has the core’s verdict for every status an allergy can have', () => {
    // The table is written by a protocol test from `Allergy::is_current`.
    const keys = ALLERGY_CURRENT.map((v) => `${v.clinical_status}|${v.verification_status}|${v.deleted}`);
    expect(new Set(keys).size).toBe(keys.length);
    const distinct = (f: (v: (typeof ALLERGY_CURRENT)[number]) => unknown) => new Set(ALLERGY_CURRENT.map(f)).size;
    expect(keys).toHaveLength(distinct((v) => v.clinical_status) * distinct((v) => v.verification_status) * 2);
    expect(distinct((v) => v.clinical_status)).toBe(3);
    expect(distinct((v) => v.verification_status)).toBe(4);
  });

  it('orders beds as the core does', () => {
    // The list is written by a protocol test from `bed_order`; sorted here
    // from every rotation and from reversed, it must come back unchanged.
    expect(BED_ORDER.length).toBeGreaterThan(10);
    expect(BED_ORDER.indexOf('2')).toBeLessThan(BED_ORDER.indexOf('10'));
    expect(BED_ORDER[BED_ORDER.length - 1]).toBeNull();
    const inputs = [[...BED_ORDER].reverse(), ...BED_ORDER.map((_, i) => [...BED_ORDER.slice(i), ...BED_ORDER.slice(0, i)])];
    for (const input of inputs) {
      expect(input.sort(compareBeds)).toEqual(BED_ORDER);
    }
  });

  it('sends each allergy with its verdict, and counts the census from the verdicts', async () => {
    const backend = sampleBackend();
    const verdicts = (rows: Array<{ allergy: { allergen: { display: string } }; current: boolean }>) =>
      Object.fromEntries(rows.map((r) => [r.allergy.allergen.display, r.current]));
    const expected = { Codeine: true, Latex: false, Aspirin: false };

    expect(verdicts((await backend.openChart(PATIENT_IDS.mixed)).header.allergies)).toEqual(expected);
    expect(verdicts(await backend.viewAllergies(PATIENT_IDS.mixed))).toEqual(expected);
    expect(verdicts((await backend.downtimeSummary(PATIENT_IDS.mixed)).header.allergies)).toEqual(expected);
    const mixed = (await backend.census()).find((p) => p.id === PATIENT_IDS.mixed);
    expect(mixed?.active_allergy_count).toBe(1);
    expect(mixed?.has_high_criticality_allergy).toBe(false);

    const saved = await backend.saveAllergy(PATIENT_IDS.mixed, {
      id: null,
      base_version: null,
      allergen: { system: 'http://snomed.info/sct', code: '91935009', display: 'Peanut' },
      type: 'allergy',
      category: 'food',
      clinical_status: 'resolved',
      verification_status: 'confirmed',
      criticality: 'high',
      reactions: [],
    });
    expect(saved.current).toBe(false);
  });

  it('refuses a break-the-glass reason outside the limits it sends in the app info', async () => {
    const backend = sampleBackend({ appInfo: appInfo({ break_glass_reason: { min_chars: 12, max_chars: 40 } }) });
    expect((await backend.appInfo()).break_glass_reason).toEqual({ min_chars: 12, max_chars: 40 });
    const attempt = (reason: string) => backend.breakGlass({ mrn: OUTSIDE_MRN, reason });
    await expect(attempt('a b c d e f g h i j k')).rejects.toMatchObject({ code: 'invalid' });
    await expect(attempt('x'.repeat(41))).rejects.toMatchObject({ code: 'invalid' });
    await expect(attempt('x'.repeat(40))).resolves.toBe(PATIENT_IDS.outside);
  });

  it('keeps medication bookkeeping: checks fixed by the fixture, pending until a sync, double doses until reviewed', async () => {
    const backend = sampleBackend();
    const view = await backend.medications(PATIENT_IDS.high);
    const amoxicillin = view.orders.find((o) => o.order.medication.display.startsWith('Amoxicillin'))!;
    const due = amoxicillin.slots.find((s) => s.state === 'due-now')!;
    const entry = {
      request_id: amoxicillin.order.id,
      due_at: due.due_at,
      status: 'completed' as const,
      not_given_reason: null,
      dose: null,
      route: null,
      site: null,
      given_at: null,
      witness: null,
      overrides: [],
    };
    const held = await backend.recordAdministration(PATIENT_IDS.high, entry);
    expect(held.outcome).toBe('needs_override');
    expect(backend.status.pending_entries).toBe(0);
    const saved = await backend.recordAdministration(PATIENT_IDS.high, { ...entry, overrides: [{ check: 'allergy', reason: 'Prescriber confirmed' }] });
    expect(saved.outcome).toBe('saved');
    if (saved.outcome !== 'saved') return;
    expect(saved.row.pending).toBe(true);
    expect(saved.row.administration.dose).toEqual(amoxicillin.order.dose);
    const after = (await backend.medications(PATIENT_IDS.high)).orders.find((o) => o.order.id === amoxicillin.order.id)!;
    expect(after.slots.find((s) => s.due_at === due.due_at)?.state).toBe('given');
    await backend.syncNow();
    const synced = (await backend.medications(PATIENT_IDS.high)).orders.find((o) => o.order.id === amoxicillin.order.id)!;
    expect(synced.administrations.every((r) => !r.pending)).toBe(true);

    expect(backend.status.double_dose_patients).toBe(1);
    const [double] = view.double_doses;
    await expect(backend.reviewDoubleDose({ ...double!, patient_id: PATIENT_IDS.high, outcome: 'duplicate-record', note: ' ' })).rejects.toMatchObject({ code: 'invalid' });
    await backend.reviewDoubleDose({ ...double!, patient_id: PATIENT_IDS.high, outcome: 'duplicate-record', note: 'One dose given' });
    expect(backend.status.double_dose_patients).toBe(0);
    expect((await backend.census()).find((p) => p.id === PATIENT_IDS.high)?.possible_double_dose).toBe(false);
  });
});
