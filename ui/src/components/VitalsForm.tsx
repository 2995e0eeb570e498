import { useState, type FormEvent } from 'react';

import type { Acvpu } from '../generated/Acvpu';
import type { ObservationRow } from '../generated/ObservationRow';
import type { VitalSpec } from '../generated/VitalSpec';
import type { VitalsEntry } from '../generated/VitalsEntry';
import { useBackend } from '../backend';
import { FormFooter, useFormSubmit } from './FormFooter';
import { formatNumber, formatUnit } from '../format';
import { ACVPU_LEVELS, checkVital, hasNormalBand, specFor, VITALS, type VitalField } from '../vitals';

interface Props {
  patientId: string;
  specs: VitalSpec[];
  onSaved: (rows: ObservationRow[]) => void;
  onCancel: () => void;
}

type Values = Record<VitalField, string>;

const EMPTY: Values = { heart_rate: '', systolic: '', diastolic: '', respiratory_rate: '', temperature: '', spo2: '' };

/** The "On oxygen" choice: not recorded (''), on supplemental oxygen, or breathing air. */
type OxygenChoice = '' | 'yes' | 'no';

/**
 * Records a set of vital signs. Each field shows the normal range and the
 * limits the backend enforces; a value outside the normal range is flagged
 * as it is typed, and an impossible one is refused with the reason before
 * anything is sent.
 */
export function VitalsForm({ patientId, specs, onSaved, onCancel }: Props) {
  const backend = useBackend();
  const [values, setValues] = useState<Values>(EMPTY);
  const [measuredAt, setMeasuredAt] = useState('');
  const [oxygen, setOxygen] = useState<OxygenChoice>('');
  const [consciousness, setConsciousness] = useState<Acvpu | ''>('');
  const { error, setError, busy, run } = useFormSubmit();

  const checks = VITALS.map((def) => ({ def, spec: specFor(specs, def), check: checkVital(def, specFor(specs, def), values[def.field]) }));

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const problems = checks.flatMap(({ check }) =>
      check.kind === 'impossible' || check.kind === 'not-a-number' ? [check.message] : [],
    );
    if (problems.length > 0) {
      setError(`Not recorded. ${problems.join(' ')}`);
      return;
    }
    if (checks.every(({ check }) => check.kind === 'empty') && oxygen === '' && consciousness === '') {
      setError('Not recorded. Enter at least one vital sign.');
      return;
    }
    let effective_at: string | null = null;
    if (measuredAt) {
      const when = new Date(measuredAt);
      if (Number.isNaN(when.getTime()) || when.getTime() > Date.now() + 60_000) {
        setError('Not recorded. The time measured cannot be in the future.');
        return;
      }
      effective_at = when.toISOString();
    }
    const entry: VitalsEntry = {
      effective_at,
      heart_rate: null,
      systolic: null,
      diastolic: null,
      respiratory_rate: null,
      temperature: null,
      spo2: null,
      on_oxygen: oxygen === '' ? null : oxygen === 'yes',
      consciousness: consciousness === '' ? null : consciousness,
    };
    for (const { def, check } of checks) if (check.kind === 'ok') entry[def.field] = check.value;
    await run(async () => {
      const rows = await backend.recordVitals(patientId, entry);
      setValues(EMPTY);
      setOxygen('');
      setConsciousness('');
      onSaved(rows);
    });
  };

  return (
    <form className="card record-form" data-testid="vitals-form" onSubmit={submit} aria-labelledby="vitals-form-title" noValidate>
      <h2 id="vitals-form-title">Record vital signs</h2>
      <p className="muted">Leave a field empty to not record it. Units are fixed; no conversion is made.</p>
      <div className="vitals-fields">
        {checks.map(({ def, spec, check }) => {
          const id = `vital-${def.field}`;
          const unit = spec ? formatUnit(spec.ucum) : '';
          const flag = check.kind === 'ok' && check.flag !== 'N' ? check.flag : null;
          const invalid = check.kind === 'impossible' || check.kind === 'not-a-number';
          const classes = ['vital-field', flag ? 'is-abnormal' : '', invalid ? 'is-invalid' : ''].filter(Boolean).join(' ');
          return (
            <div key={def.field} className={classes} data-field={def.field} data-flag={flag ?? (invalid ? 'invalid' : 'none')}>
              <label htmlFor={id}>{def.label}</label>
              <div className="input-unit">
                <input
                  id={id}
                  name={def.field}
                  inputMode="decimal"
                  autoComplete="off"
                  value={values[def.field]}
                  aria-invalid={invalid}
                  aria-describedby={`${id}-hint ${id}-msg`}
                  onChange={(e) => setValues((v) => ({ ...v, [def.field]: e.target.value }))}
                />
                <span className="unit">{unit}</span>
              </div>
              <p id={`${id}-hint`} className="hint" data-testid={`limits-${def.field}`}>
                {spec ? (
                  <>
                    {hasNormalBand(spec) && (
                      <>
                        Normal {formatNumber(spec.normal_low)}–{formatNumber(spec.normal_high)} {unit}.{' '}
                      </>
                    )}
                    Accepted {formatNumber(spec.min)}–{formatNumber(spec.max)} {unit}.
                  </>
                ) : (
                  'Limits unavailable.'
                )}
              </p>
              <p id={`${id}-msg`} className="field-message" aria-live="polite">
                {flag === 'H' && (
                  <span className="flag-badge flag-abnormal">
                    <span aria-hidden="true">▲ </span>Above normal
                  </span>
                )}
                {flag === 'L' && (
                  <span className="flag-badge flag-abnormal">
                    <span aria-hidden="true">▼ </span>Below normal
                  </span>
                )}
                {invalid && (
                  <span className="field-error">
                    <span aria-hidden="true">✖ </span>
                    {check.message}
                  </span>
                )}
              </p>
            </div>
          );
        })}
        <div className="vital-field" data-field="on_oxygen">
          <label htmlFor="vital-on-oxygen">On oxygen</label>
          <select
            id="vital-on-oxygen"
            name="on_oxygen"
            value={oxygen}
            onChange={(e) => setOxygen(e.target.value as OxygenChoice)}
            aria-describedby="vital-on-oxygen-hint"
          >
            <option value="">Not recorded</option>
            <option value="no">No (air)</option>
            <option value="yes">Yes (supplemental oxygen)</option>
          </select>
          <p id="vital-on-oxygen-hint" className="hint">
            For NEWS2: oxygen scores 2.
          </p>
        </div>
        <div className="vital-field" data-field="consciousness">
          <label htmlFor="vital-consciousness">Consciousness (ACVPU)</label>
          <select
            id="vital-consciousness"
            name="consciousness"
            value={consciousness}
            onChange={(e) => setConsciousness(e.target.value as Acvpu | '')}
            aria-describedby="vital-consciousness-hint"
          >
            <option value="">Not recorded</option>
            {ACVPU_LEVELS.map((level) => (
              <option key={level.value} value={level.value}>
                {level.label}
              </option>
            ))}
          </select>
          <p id="vital-consciousness-hint" className="hint">
            For NEWS2: anything but Alert scores 3.
          </p>
        </div>
        <div className="vital-field">
          <label htmlFor="vital-effective-at">Measured at</label>
          <input
            id="vital-effective-at"
            name="effective_at"
            type="datetime-local"
            value={measuredAt}
            onChange={(e) => setMeasuredAt(e.target.value)}
            aria-describedby="vital-effective-at-hint"
          />
          <p id="vital-effective-at-hint" className="hint">
            Empty: now.
          </p>
        </div>
      </div>
      <FormFooter testId="vitals" error={error} busy={busy} submitLabel="Save vital signs" busyLabel="Saving…" onCancel={onCancel} />
    </form>
  );
}
