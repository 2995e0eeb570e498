import { useState } from 'react';

import type { AccessReportQuery } from '../generated/AccessReportQuery';
import type { PrivacyAccess } from '../generated/PrivacyAccess';
import { AccessReportPrint } from './AccessReportPrint';
import { AccessReportView } from './AccessReportView';
import { AuditChains } from './AuditChains';
import { BreakGlassReviews } from './BreakGlassReviews';
import './privacy.css';

type Section = 'report' | 'reviews' | 'chains';

const SECTIONS: Array<{ id: Section; label: string }> = [
  { id: 'report', label: 'Access report' },
  { id: 'reviews', label: 'Emergency access reviews' },
  { id: 'chains', label: 'Audit chains' },
];

/**
 * The privacy officer's workspace: the access report (with its printout and
 * exports), the break-the-glass review queue and every workstation's audit
 * chain. Online only; each section asks the service when opened, and each
 * view is audited in this workstation's chain. The report stays mounted
 * (hidden) while another section is open, so its query is not lost, but
 * its rows are asked again when it is searched again.
 */
export function PrivacyWorkspace({ access }: { access: PrivacyAccess }) {
  const [section, setSection] = useState<Section>('report');
  const [printing, setPrinting] = useState<AccessReportQuery | null>(null);
  const [pending, setPending] = useState(access.pending_reviews);

  if (printing) return <AccessReportPrint query={printing} onBack={() => setPrinting(null)} />;

  return (
    <section className="privacy-workspace" data-testid="privacy-workspace" aria-labelledby="privacy-title">
      <h1 id="privacy-title">Privacy workspace</h1>
      <div role="tablist" aria-label="Privacy workspace sections" className="tabs">
        {SECTIONS.map((s) => (
          <button
            key={s.id}
            type="button"
            role="tab"
            id={`privacy-tab-${s.id}`}
            data-testid={`privacy-tab-${s.id}`}
            aria-selected={section === s.id}
            aria-controls={`privacy-panel-${s.id}`}
            className="tab"
            onClick={() => setSection(s.id)}
          >
            {s.label}
            {s.id === 'reviews' && pending > 0 && <span className="privacy-count"> ({pending})</span>}
            {s.id === 'chains' && access.devices_with_findings > 0 && <span className="privacy-count"> (⚠ {access.devices_with_findings})</span>}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`privacy-panel-${section}`} aria-labelledby={`privacy-tab-${section}`} className="tab-panel">
        <div hidden={section !== 'report'}>
          <AccessReportView onPrint={setPrinting} />
        </div>
        {section === 'reviews' && <BreakGlassReviews onPendingChange={setPending} />}
        {section === 'chains' && <AuditChains />}
      </div>
    </section>
  );
}
