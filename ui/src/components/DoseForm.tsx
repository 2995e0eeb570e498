import { useState, type FormEvent } from 'react';

import type { AdministrationEntry } from '../generated/AdministrationEntry';
import type { AdministrationRow } from '../generated/AdministrationRow';
import type { CheckFinding } from '../generated/CheckFinding';
import type { Coding } from '../generated/Coding';
import type { Dose } from '../generated/Dose';
import type { MedicationRequest } from '../generated/MedicationRequest';
import type { NotGivenReason } from '../generated/NotGivenReason';
import type { SafetyCheck } from '../generated/SafetyCheck';
import { useBackend } from '../backend';
import { formatNumber } from '../format';
import { formatCheck, formatDose, formatNotGivenReason, NOT_GIVEN_REASONS } from '../medications';
import { codeFor } from './AllergyForm';
import { FormFooter, useFormSubmit } from './FormFooter';

const SNOMED = 'http://snomed.info/sct';

/** Routes offered in the list (SNOMED CT); anything else typed is sent uncoded. */
export const ROUTES: Coding[] = [
  { system: SNOMED, code: '26643006', display: 'Oral' },
  { system: SNOMED, code: '47625008', display: 'Intravenous' },
  { system: SNOMED, code: '34206005', display: 'Subcutaneous' },
  { system: SNOMED, code: '78421000', display: 'Intramuscular' },
  { system: SNOMED, code: '37161004', display: 'Rectal' },
  { system: SNOMED, code: '37839007', display: 'Sublingual' },
  { system: SNOMED, code: '6064005', display: 'Topical' },
  { system: SNOMED, code: '447694001', display: 'Inhaled' },
];

const pad = (n: number) => String(n).padStart(2, '0');

/** A `datetime-local` value for an instant, in the workstation's clock. */
export function localInput(date: Date): string {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function sameDose(a: Dose | null, b: Dose | null): boolean {
  return a !== null && b !== null && a.value === b.value && a.unit === b.unit;
}

interface Props {
  patientId: string;
  order: MedicationRequest;
  /** The due time answered; null for a PRN dose. */
  dueAt: string | null;
  onSaved: (row: AdministrationRow) => void;
  onCancel: () => void;
}

/**
 * Records one dose given or not given. The core checks the dose before it
 * saves it; when checks fail it answers `needs_override` and nothing is
 * saved: each failed check is listed in the core's own words with a reason
 * field, and the dose is sent again with those overrides. Offline works the
 * same: the core queues the saved record, shown "Pending sync" until the
 * server has it.
 */
export function DoseForm({ patientId, order, dueAt, onSaved, onCancel }: Props) {
  const backend = useBackend();
  const [given, setGiven] = useState(true);
  const [reason, setReason] = useState<NotGivenReason | ''>('');
  const [doseValue, setDoseValue] = useState(order.dose ? formatNumber(order.dose.value) : '');
  const [doseUnit, setDoseUnit] = useState(order.dose?.unit ?? '');
  const [route, setRoute] = useState(order.route?.display ?? '');
  const [site, setSite] = useState('');
  const [time, setTime] = useState(() => localInput(new Date()));
  const [timeChanged, setTimeChanged] = useState(false);
  const [witness, setWitness] = useState('');
  const [findings, setFindings] = useState<CheckFinding[] | null>(null);
  const [reasons, setReasons] = useState<Partial<Record<SafetyCheck, string>>>({});
  const { error, setError, busy, run } = useFormSubmit();
  /**
   * A change to the dose makes the core's last answer stale (a witness
   * named clears the no-witness check): the findings go until the next
   * submit asks again. Reasons typed are kept for checks that fail again.
   */
  const edit =
    <T,>(set: (value: T) => void) =>
    (value: T) => {
      set(value);
      setFindings(null);
    };

  const build = (): AdministrationEntry | string => {
    if (!given && reason === '') return 'Say why the dose was not given.';
    let dose: Dose | null = null;
    if (given && doseValue.trim() !== '') {
      const value = Number(doseValue);
      if (!Number.isFinite(value) || value <= 0) return 'Enter the dose given as a number greater than 0.';
      if (doseUnit.trim() === '') return 'Enter the unit of the dose.';
      const entered = { value, unit: doseUnit.trim() };
      dose = sameDose(entered, order.dose) ? null : entered;
    }
    let routeCoding: Coding | null = null;
    if (given && route.trim() !== '') {
      const coded = codeFor(route, ROUTES, order.route ?? undefined);
      routeCoding = coded === order.route ? null : coded;
    }
    let givenAt: string | null = null;
    if (timeChanged) {
      const parsed = new Date(time);
      if (Number.isNaN(parsed.getTime())) return 'Enter the time the dose was given.';
      givenAt = parsed.toISOString();
    }
    const overrides = (findings ?? []).map((f) => ({ check: f.check, reason: (reasons[f.check] ?? '').trim() }));
    if (overrides.some((o) => o.reason.length === 0)) {
      return 'Give a reason for each check you override, or cancel the dose.';
    }
    return {
      request_id: order.id,
      due_at: dueAt,
      status: given ? 'completed' : 'not-done',
      not_given_reason: given || reason === '' ? null : reason,
      dose,
      route: routeCoding,
      site: given && site.trim() !== '' ? site.trim() : null,
      given_at: givenAt,
      witness: given && order.high_alert && witness.trim() !== '' ? witness.trim() : null,
      overrides: given ? overrides : [],
    };
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const entry = build();
    if (typeof entry === 'string') {
      setError(entry);
      return;
    }
    await run(async () => {
      const outcome = await backend.recordAdministration(patientId, entry);
      if (outcome.outcome === 'saved') {
        onSaved(outcome.row);
        return;
      }
      // The core lists the checks still open; those already overridden
      // (with a reason, nothing changed since) stay on the form.
      const open = outcome.findings;
      setFindings((shown) => [...(shown ?? []).filter((f) => !open.some((o) => o.check === f.check)), ...open]);
    });
  };

  return (
    <form className="record-form dose-form" data-testid="record-dose" onSubmit={submit} noValidate>
      <fieldset className="dose-outcome">
        <legend>Outcome</legend>
        <label>
          <input type="radio" name="outcome" data-testid="dose-given" checked={given} onChange={() => edit(setGiven)(true)} /> Given
        </label>
        <label>
          <input
            type="radio"
            name="outcome"
            data-testid="dose-not-given"
            checked={!given}
            onChange={() => edit(setGiven)(false)}
          />{' '}
          Not given
        </label>
      </fieldset>
      <div className="form-grid">
        {!given && (
          <label className="field">
            <span>Why not given (required)</span>
            <select data-testid="not-given-reason" value={reason} onChange={(e) => edit(setReason)(e.target.value as NotGivenReason | '')}>
              <option value="">Choose…</option>
              {NOT_GIVEN_REASONS.map((r) => (
                <option key={r} value={r}>
                  {formatNotGivenReason(r)}
                </option>
              ))}
            </select>
          </label>
        )}
        {given && (
          <>
            <label className="field">
              <span>Dose (ordered: {formatDose(order.dose)})</span>
              <span className="input-unit">
                <input data-testid="dose-value" inputMode="decimal" value={doseValue} onChange={(e) => edit(setDoseValue)(e.target.value)} />
                <input
                  data-testid="dose-unit"
                  aria-label="Dose unit"
                  className="unit-input"
                  value={doseUnit}
                  onChange={(e) => edit(setDoseUnit)(e.target.value)}
                />
              </span>
            </label>
            <label className="field">
              <span>Route</span>
              <input data-testid="dose-route" list="dose-routes" value={route} onChange={(e) => edit(setRoute)(e.target.value)} />
              <datalist id="dose-routes">
                {ROUTES.map((r) => (
                  <option key={r.code} value={r.display} />
                ))}
              </datalist>
            </label>
            <label className="field">
              <span>Site (optional)</span>
              <input data-testid="dose-site" placeholder="e.g. left thigh" value={site} onChange={(e) => edit(setSite)(e.target.value)} />
            </label>
          </>
        )}
        <label className="field">
          <span>{given ? 'Time given' : 'Time decided'}</span>
          <input
            type="datetime-local"
            data-testid="dose-time"
            value={time}
            onChange={(e) => {
              edit(setTime)(e.target.value);
              setTimeChanged(true);
            }}
          />
        </label>
        {given && order.high_alert && (
          <label className="field">
            <span>Witness (high-alert medicine: the second person’s user name)</span>
            <input data-testid="dose-witness" value={witness} autoComplete="off" onChange={(e) => edit(setWitness)(e.target.value)} />
          </label>
        )}
      </div>
      {given && findings && findings.length > 0 && (
        <section className="check-findings" data-testid="check-findings" role="alert" aria-label="Checks that failed">
          <h3>
            <span aria-hidden="true">⚠ </span>Stop and check before recording this dose
          </h3>
          <p>Nothing has been saved. Give the dose only if it is safe; each override is recorded with its reason.</p>
          {findings.map((f) => (
            <div key={f.check} className="check-finding" data-testid="check-finding" data-check={f.check}>
              <p>
                <strong>{formatCheck(f.check)}:</strong> {f.message}
              </p>
              <label className="field">
                <span>Reason to override (required)</span>
                <textarea
                  data-testid="override-reason"
                  data-check={f.check}
                  rows={2}
                  required
                  value={reasons[f.check] ?? ''}
                  onChange={(e) => setReasons((r) => ({ ...r, [f.check]: e.target.value }))}
                />
              </label>
            </div>
          ))}
        </section>
      )}
      <FormFooter
        testId="record-dose"
        error={error}
        busy={busy}
        submitLabel={given && findings && findings.length > 0 ? 'Override and record' : given ? 'Record dose given' : 'Record not given'}
        busyLabel="Recording…"
        danger={Boolean(given && findings && findings.length > 0)}
        onCancel={onCancel}
      />
    </form>
  );
}
