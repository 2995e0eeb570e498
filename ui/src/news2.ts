// NEWS2 in words for the census. The score, its risk and its completeness
// are the core's (protocol/src/news2.rs, the RCP chart); the UI only names
// them. Each risk has a colour (the trigger colours of chart 2) AND a word.

import type { News2Parameter } from './generated/News2Parameter';
import type { News2Risk } from './generated/News2Risk';
import type { News2Score } from './generated/News2Score';

const RISK: Record<News2Risk, string> = {
  low: 'Low',
  'low-medium': 'Low-medium',
  medium: 'Medium',
  high: 'High',
};

/** Chart 2's wording of what each risk asks for, for the hover text. */
const RESPONSE: Record<News2Risk, string> = {
  low: 'ward-based response',
  'low-medium': 'a single parameter scored 3: urgent ward-based response',
  medium: 'key threshold for urgent response',
  high: 'urgent or emergency response',
};

export function formatRisk(risk: News2Risk): string {
  return RISK[risk];
}

const PARAMETERS: Record<News2Parameter, string> = {
  'respiration-rate': 'Respiration rate',
  spo2: 'SpO₂ (scale 1)',
  'air-or-oxygen': 'Air or oxygen',
  'systolic-bp': 'Systolic BP',
  pulse: 'Pulse',
  consciousness: 'Consciousness',
  temperature: 'Temperature',
};

export function formatParameter(parameter: News2Parameter): string {
  return PARAMETERS[parameter];
}

/** The parameter scores and what is missing, one line each: the cell's hover text. */
export function news2Breakdown(score: News2Score): string {
  const lines = [`NEWS2 ${score.total}: ${RISK[score.risk]} risk (${RESPONSE[score.risk]})`];
  for (const p of score.parameters) lines.push(`${PARAMETERS[p.parameter]}: ${p.score}`);
  if (score.missing.length > 0) {
    lines.push(`Missing or too old: ${score.missing.map((m) => PARAMETERS[m]).join(', ')}`);
  }
  return lines.join('\n');
}
