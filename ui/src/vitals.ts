// The six bedside vital signs: their VitalsEntry field, LOINC code(s) and
// how each value is checked against the backend's own limits (VitalSpec).

import type { Acvpu } from './generated/Acvpu';
import type { VitalSpec } from './generated/VitalSpec';
import type { VitalsEntry } from './generated/VitalsEntry';
import { formatNumber, formatUnit } from './format';

/** The numeric fields of a VitalsEntry (the NEWS2 yes/no and ACVPU fields are not numbers). */
export type VitalField = keyof Omit<VitalsEntry, 'effective_at' | 'on_oxygen' | 'consciousness'>;

/**
 * The ACVPU levels of consciousness, in NEWS2 chart order (protocol/src/news2.rs,
 * `Acvpu`): anything but Alert scores 3.
 */
export const ACVPU_LEVELS: Array<{ value: Acvpu; label: string }> = [
  { value: 'alert', label: 'Alert' },
  { value: 'new-confusion', label: 'New confusion' },
  { value: 'voice', label: 'Voice' },
  { value: 'pain', label: 'Pain' },
  { value: 'unresponsive', label: 'Unresponsive' },
];

export interface VitalDef {
  field: VitalField;
  /** LOINC codes (protocol/src/vitals.rs); SpO2 also accepts 2708-6 (arterial O2 saturation). */
  loinc: string[];
  label: string;
  short: string;
}

export const VITALS: VitalDef[] = [
  { field: 'heart_rate', loinc: ['8867-4'], label: 'Heart rate', short: 'HR' },
  { field: 'systolic', loinc: ['8480-6'], label: 'Systolic blood pressure', short: 'SBP' },
  { field: 'diastolic', loinc: ['8462-4'], label: 'Diastolic blood pressure', short: 'DBP' },
  { field: 'respiratory_rate', loinc: ['9279-1'], label: 'Respiratory rate', short: 'RR' },
  { field: 'temperature', loinc: ['8310-5'], label: 'Temperature', short: 'Temp' },
  { field: 'spo2', loinc: ['59408-5', '2708-6'], label: 'SpO₂', short: 'SpO₂' },
];

export function specFor(specs: readonly VitalSpec[], def: VitalDef): VitalSpec | undefined {
  return specs.find((s) => def.loinc.includes(s.loinc));
}

export function defForLoinc(loinc: string): VitalDef | undefined {
  return VITALS.find((d) => d.loinc.includes(loinc));
}

export function hasNormalBand(spec: VitalSpec): boolean {
  return spec.normal_low > spec.min || spec.normal_high < spec.max;
}

export type VitalCheck =
  | { kind: 'empty' }
  | { kind: 'not-a-number'; message: string }
  | { kind: 'impossible'; value: number; message: string }
  | { kind: 'ok'; value: number; flag: 'H' | 'L' | 'N' };

/** Checks what was typed: a number, within the plausibility limits, and where it sits against the normal band. */
export function checkVital(def: VitalDef, spec: VitalSpec | undefined, text: string): VitalCheck {
  const trimmed = text.trim().replace(',', '.');
  if (trimmed.length === 0) return { kind: 'empty' };
  const value = Number(trimmed);
  if (!/^-?\d+(\.\d+)?$/.test(trimmed) || !Number.isFinite(value)) {
    return { kind: 'not-a-number', message: `${def.label}: enter a number.` };
  }
  if (!spec) return { kind: 'ok', value, flag: 'N' };
  const unit = formatUnit(spec.ucum);
  if (value < spec.min || value > spec.max) {
    return {
      kind: 'impossible',
      value,
      message: `${def.label} ${formatNumber(value)} ${unit} is not possible: it must be between ${formatNumber(
        spec.min,
      )} and ${formatNumber(spec.max)} ${unit}. Check the reading.`,
    };
  }
  if (hasNormalBand(spec) && value > spec.normal_high) return { kind: 'ok', value, flag: 'H' };
  if (hasNormalBand(spec) && value < spec.normal_low) return { kind: 'ok', value, flag: 'L' };
  return { kind: 'ok', value, flag: 'N' };
}
