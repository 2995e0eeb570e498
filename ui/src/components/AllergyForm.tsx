import { useState, type FormEvent } from 'react';

import type { Allergy } from '../generated/Allergy';
import type { AllergyCategory } from '../generated/AllergyCategory';
import type { AllergyClinicalStatus } from '../generated/AllergyClinicalStatus';
import type { AllergyEntry } from '../generated/AllergyEntry';
import type { AllergyRow } from '../generated/AllergyRow';
import type { AllergyType } from '../generated/AllergyType';
import type { AllergyVerificationStatus } from '../generated/AllergyVerificationStatus';
import type { Coding } from '../generated/Coding';
import type { Criticality } from '../generated/Criticality';
import type { ReactionSeverity } from '../generated/ReactionSeverity';
import { useBackend } from '../backend';
import { FormFooter, useFormSubmit } from './FormFooter';

const SNOMED = 'http://snomed.info/sct';
const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
/** Text typed that matches no listed code is sent uncoded, under this system. */
export const UNCODED = 'urn:wardbook:uncoded';

/** Common allergens with their codes; anything else is free text. */
export const ALLERGENS: Coding[] = [
  { system: RXNORM, code: '7980', display: 'Penicillin G' },
  { system: RXNORM, code: '723', display: 'Amoxicillin' },
  { system: RXNORM, code: '2231', display: 'Cephalexin' },
  { system: RXNORM, code: '10180', display: 'Sulfamethoxazole' },
  { system: RXNORM, code: '2670', display: 'Codeine' },
  { system: RXNORM, code: '7052', display: 'Morphine' },
  { system: RXNORM, code: '1191', display: 'Aspirin' },
  { system: RXNORM, code: '5640', display: 'Ibuprofen' },
  { system: SNOMED, code: '111088007', display: 'Latex' },
  { system: SNOMED, code: '256349002', display: 'Peanut' },
  { system: SNOMED, code: '102263004', display: 'Eggs' },
  { system: SNOMED, code: '44027008', display: 'Seafood' },
  { system: SNOMED, code: '288328004', display: 'Bee venom' },
];

export const MANIFESTATIONS: Coding[] = [
  { system: SNOMED, code: '39579001', display: 'Anaphylaxis' },
  { system: SNOMED, code: '126485001', display: 'Urticaria' },
  { system: SNOMED, code: '271807003', display: 'Rash' },
  { system: SNOMED, code: '418290006', display: 'Itching' },
  { system: SNOMED, code: '41291007', display: 'Angioedema' },
  { system: SNOMED, code: '56018004', display: 'Wheezing' },
  { system: SNOMED, code: '422587007', display: 'Nausea' },
  { system: SNOMED, code: '422400008', display: 'Vomiting' },
  { system: SNOMED, code: '62315008', display: 'Diarrhoea' },
];

/** The listed code for this text, the original coding when unchanged, else uncoded free text. */
export function codeFor(text: string, list: Coding[], original?: Coding): Coding {
  const display = text.trim();
  if (original && original.display === display) return original;
  const found = list.find((c) => c.display.toLocaleLowerCase() === display.toLocaleLowerCase());
  if (found) return found;
  return { system: UNCODED, code: display.toLocaleLowerCase().replace(/\s+/g, '-').slice(0, 64) || 'uncoded', display };
}

interface ReactionDraft {
  text: string;
  severity: ReactionSeverity | '';
  original?: Coding;
}

interface Props {
  patientId: string;
  /** The allergy to update; absent for a new one. */
  allergy?: Allergy | undefined;
  onSaved: (row: AllergyRow) => void;
  onCancel: () => void;
}

function Select<T extends string>({
  label,
  name,
  value,
  options,
  onChange,
}: {
  label: string;
  name: string;
  value: T;
  options: Array<[T, string]>;
  onChange: (v: T) => void;
}) {
  return (
    <label className="field">
      <span>{label}</span>
      <select name={name} value={value} onChange={(e) => onChange(e.target.value as T)}>
        {options.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
    </label>
  );
}

/** A new allergy, or an update of one (sent with the version the clinician saw). */
export function AllergyForm({ patientId, allergy, onSaved, onCancel }: Props) {
  const backend = useBackend();
  const [allergen, setAllergen] = useState(allergy?.allergen.display ?? '');
  const [type, setType] = useState<AllergyType>(allergy?.type ?? 'allergy');
  const [category, setCategory] = useState<AllergyCategory>(allergy?.category ?? 'medication');
  const [clinical, setClinical] = useState<AllergyClinicalStatus>(allergy?.clinical_status ?? 'active');
  const [verification, setVerification] = useState<AllergyVerificationStatus>(allergy?.verification_status ?? 'unconfirmed');
  const [criticality, setCriticality] = useState<Criticality>(allergy?.criticality ?? 'unable-to-assess');
  const [reactions, setReactions] = useState<ReactionDraft[]>(
    allergy?.reactions.map((r) => ({ text: r.manifestation.display, severity: r.severity ?? '', original: r.manifestation })) ?? [
      { text: '', severity: '' },
    ],
  );
  const { error, setError, busy, run } = useFormSubmit();

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (allergen.trim().length === 0) {
      setError('Enter the allergen (the substance the patient reacts to).');
      return;
    }
    if (allergen.trim().length > 200) {
      setError('The allergen can be at most 200 characters.');
      return;
    }
    const filled = reactions.filter((r) => r.text.trim().length > 0 || r.severity !== '');
    if (filled.some((r) => r.text.trim().length === 0)) {
      setError('Each reaction needs its manifestation (for example, "Rash"), or remove the reaction.');
      return;
    }
    const entry: AllergyEntry = {
      id: allergy?.id ?? null,
      base_version: allergy?.version ?? null,
      allergen: codeFor(allergen, ALLERGENS, allergy?.allergen),
      type,
      category,
      clinical_status: clinical,
      verification_status: verification,
      criticality,
      reactions: filled.map((r) => ({
        manifestation: codeFor(r.text, MANIFESTATIONS, r.original),
        severity: r.severity === '' ? null : r.severity,
      })),
    };
    await run(async () => onSaved(await backend.saveAllergy(patientId, entry)));
  };

  const setReaction = (i: number, patch: Partial<ReactionDraft>) =>
    setReactions((rs) => rs.map((r, j) => (j === i ? { ...r, ...patch } : r)));

  return (
    <form className="card record-form" data-testid="allergy-form" onSubmit={submit} aria-labelledby="allergy-form-title" noValidate>
      <h2 id="allergy-form-title">{allergy ? `Update allergy: ${allergy.allergen.display}` : 'New allergy'}</h2>
      <datalist id="allergen-list">
        {ALLERGENS.map((c) => (
          <option key={c.code} value={c.display} />
        ))}
      </datalist>
      <datalist id="manifestation-list">
        {MANIFESTATIONS.map((c) => (
          <option key={c.code} value={c.display} />
        ))}
      </datalist>
      <div className="form-grid">
        <label className="field wide">
          <span>Allergen</span>
          <input
            name="allergen"
            data-testid="allergy-allergen"
            list="allergen-list"
            autoFocus
            value={allergen}
            onChange={(e) => setAllergen(e.target.value)}
            autoComplete="off"
          />
        </label>
        <Select label="Type" name="type" value={type} onChange={setType} options={[['allergy', 'Allergy'], ['intolerance', 'Intolerance']]} />
        <Select
          label="Category"
          name="category"
          value={category}
          onChange={setCategory}
          options={[['medication', 'Medication'], ['food', 'Food'], ['environment', 'Environment'], ['biologic', 'Biologic']]}
        />
        <Select
          label="Clinical status"
          name="clinical_status"
          value={clinical}
          onChange={setClinical}
          options={[['active', 'Active'], ['inactive', 'Inactive'], ['resolved', 'Resolved']]}
        />
        <Select
          label="Verification"
          name="verification_status"
          value={verification}
          onChange={setVerification}
          options={[
            ['unconfirmed', 'Unconfirmed'],
            ['confirmed', 'Confirmed'],
            ['refuted', 'Refuted'],
            ['entered-in-error', 'Entered in error'],
          ]}
        />
        <Select
          label="Criticality"
          name="criticality"
          value={criticality}
          onChange={setCriticality}
          options={[['unable-to-assess', 'Unable to assess'], ['low', 'Low'], ['high', 'HIGH']]}
        />
      </div>
      <fieldset className="reactions-fieldset">
        <legend>Reactions</legend>
        {reactions.map((r, i) => (
          <div key={i} className="reaction-row">
            <label className="field">
              <span>Manifestation</span>
              <input
                name={`reaction-${i}-manifestation`}
                list="manifestation-list"
                value={r.text}
                onChange={(e) => setReaction(i, { text: e.target.value })}
                autoComplete="off"
              />
            </label>
            <Select
              label="Severity"
              name={`reaction-${i}-severity`}
              value={r.severity}
              onChange={(v) => setReaction(i, { severity: v })}
              options={[['', 'Not recorded'], ['mild', 'Mild'], ['moderate', 'Moderate'], ['severe', 'Severe']]}
            />
            <button type="button" className="button small" onClick={() => setReactions((rs) => rs.filter((_, j) => j !== i))}>
              Remove<span className="sr-only"> reaction {i + 1}</span>
            </button>
          </div>
        ))}
        <button type="button" className="button small" onClick={() => setReactions((rs) => [...rs, { text: '', severity: '' }])}>
          Add a reaction
        </button>
      </fieldset>
      <FormFooter testId="allergy" error={error} busy={busy} submitLabel="Save allergy" busyLabel="Saving…" onCancel={onCancel} />
    </form>
  );
}
