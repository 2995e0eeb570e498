import { useId, type Ref } from 'react';

import type { Allergy } from '../generated/Allergy';
import type { BannerAllergy } from '../generated/BannerAllergy';
import {
  formatCategory,
  formatClinicalStatus,
  formatCriticality,
  formatSeverity,
  formatTimestampDate,
  formatVerification,
} from '../format';

function isVoided(allergy: Allergy): boolean {
  return allergy.verification_status === 'refuted' || allergy.verification_status === 'entered-in-error';
}

/**
 * Current before not current (`current` is the core's verdict, from
 * `Allergy::is_current` in protocol/, never decided here); within each,
 * high criticality first. Stable otherwise.
 */
export function orderAllergies<T extends BannerAllergy>(items: readonly T[]): T[] {
  const rank = (a: T) => (a.current ? 0 : 2) + (a.allergy.criticality === 'high' ? 0 : 1);
  return items
    .map((item, index) => ({ item, index }))
    .sort((x, y) => rank(x.item) - rank(y.item) || x.index - y.index)
    .map((x) => x.item);
}

function Reactions({ allergy }: { allergy: Allergy }) {
  if (allergy.reactions.length === 0) {
    return <span className="reactions muted">Reaction not recorded</span>;
  }
  return (
    <span className="reactions">
      {allergy.reactions.map((r, i) => (
        <span key={`${r.manifestation.system}|${r.manifestation.code}|${i}`} className="reaction">
          {i > 0 && ', '}
          {r.manifestation.display}
          {r.severity && <span className={`severity severity-${r.severity}`}> ({formatSeverity(r.severity)})</span>}
        </span>
      ))}
    </span>
  );
}

function AllergyItem({ item }: { item: BannerAllergy }) {
  const { allergy, current } = item;
  const voided = isVoided(allergy);
  const classes = [
    'allergy-item',
    `crit-${allergy.criticality}`,
    current ? 'is-current' : 'is-not-current',
    voided ? 'is-voided' : '',
  ]
    .filter(Boolean)
    .join(' ');
  const Name = voided ? 's' : 'strong';
  return (
    <li
      className={classes}
      data-testid="allergy-item"
      data-criticality={allergy.criticality}
      data-verification={allergy.verification_status}
      data-clinical-status={allergy.clinical_status}
    >
      <span className={`crit-badge crit-badge-${allergy.criticality}`} data-testid="criticality">
        {formatCriticality(allergy.criticality)}
        <span className="sr-only"> criticality</span>
      </span>
      <span className="allergy-main">
        <Name className="allergen">{allergy.allergen.display}</Name>
        <span className="allergy-kind">
          {formatCategory(allergy.category)} {allergy.type}
        </span>
        {allergy.verification_status !== 'confirmed' && (
          <span className={`status-tag status-${allergy.verification_status}`} data-testid="verification">
            {formatVerification(allergy.verification_status)}
          </span>
        )}
        {allergy.clinical_status !== 'active' && (
          <span className="status-tag status-clinical">{formatClinicalStatus(allergy.clinical_status)}</span>
        )}
      </span>
      <Reactions allergy={allergy} />
      <span className="recorded muted">Recorded {formatTimestampDate(allergy.recorded_at)}</span>
    </li>
  );
}

interface Props {
  /** Each with the core's verdict on whether it is current (`AllergyRow`s will do). */
  allergies: readonly BannerAllergy[];
  ref?: Ref<HTMLElement>;
}

/**
 * Allergies, shown before anything else in a chart. High criticality is red,
 * bold and labelled HIGH (never colour alone); unconfirmed entries say so;
 * refuted and entered-in-error entries are struck through and listed last.
 */
export function AllergyBanner({ allergies, ref }: Props) {
  // Unique per banner: a ward printout has one on every page.
  const titleId = useId();
  const shown = orderAllergies(allergies.filter((a) => !a.allergy.deleted));
  const current = shown.filter((a) => a.current);
  const high = current.filter((a) => a.allergy.criticality === 'high');
  const tone = high.length > 0 ? 'high' : current.length > 0 ? 'present' : 'none';

  let summary: string;
  if (shown.length === 0) summary = '';
  else if (current.length === 0) summary = 'No active allergies';
  else {
    summary = `${current.length} active`;
    if (high.length > 0) summary += ` · ${high.length} HIGH criticality`;
  }

  return (
    <section
      ref={ref}
      tabIndex={-1}
      className={`allergy-banner tone-${tone}`}
      data-testid="allergy-banner"
      aria-labelledby={titleId}
    >
      <div className="allergy-banner-head">
        <h2 id={titleId}>Allergies</h2>
        {shown.length === 0 ? (
          <p className="nka" data-testid="no-known-allergies">
            No known allergies
          </p>
        ) : (
          <p className="allergy-summary" data-testid="allergy-summary">
            {summary}
          </p>
        )}
      </div>
      {shown.length > 0 && (
        <ul className="allergy-list">
          {shown.map((a) => (
            <AllergyItem key={a.allergy.id} item={a} />
          ))}
        </ul>
      )}
    </section>
  );
}
