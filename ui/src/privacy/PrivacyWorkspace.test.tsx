import { screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';

import { outsideChart, sampleBackend, sampleCharts } from '../backend/fixtures';
import { PENDING_ACCESS_ID, PRIVACY_USER } from '../backend/fixturesPrivacy';
import type { MemoryBackend } from '../backend/memory';
import type { PrivacyAccess } from '../generated/PrivacyAccess';
import { renderWith } from '../test/render';
import { PrivacyWorkspace } from './PrivacyWorkspace';

const ACCESS: PrivacyAccess = { privacy_officer: true, clinician: false, pending_reviews: 1, devices_with_findings: 1 };

/** The sample backend with the privacy officer signed in. */
function officerBackend(): MemoryBackend {
  return sampleBackend({
    session: {
      state: 'active',
      session: {
        user_id: PRIVACY_USER.username,
        display_name: PRIVACY_USER.display_name,
        mode: 'online',
        started_at: new Date().toISOString(),
        idle_lock_minutes: 10,
        break_glass: [],
      },
    },
  });
}

function renderWorkspace(backend = officerBackend()) {
  return renderWith(backend, <PrivacyWorkspace access={ACCESS} />);
}

const calls = (backend: MemoryBackend, method: Parameters<MemoryBackend['count']>[0]) => backend.count(method);

describe('the access report', () => {
  it('shows who viewed a patient, with the purpose, the workstation and offline sessions; each report an audited view', async () => {
    const backend = officerBackend();
    const { user } = renderWorkspace(backend);
    const patient = sampleCharts()[0]!.patient;
    await user.type(screen.getByTestId('report-mrn'), patient.mrn);
    await user.click(screen.getByTestId('access-report-submit'));

    const report = await screen.findByTestId('access-report');
    expect(screen.getByTestId('access-report-subject')).toHaveTextContent(`Who viewed OKAFOR, Amelia ${patient.mrn}`);
    const rows = within(report).getAllByTestId('access-row');
    expect(rows.length).toBe(Number(report.dataset['total']));
    expect(rows.length).toBeGreaterThan(3);
    // Newest first, with who, what, why and from where.
    const times = rows.map((r) => Date.parse(r.querySelector('time')?.getAttribute('datetime') ?? ''));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(rows[0]).toHaveTextContent('Treatment');
    expect(rows.some((r) => r.textContent?.includes('ward-7a-ws1'))).toBe(true);
    const offline = rows.filter((r) => r.dataset['offline'] === 'true');
    expect(offline).toHaveLength(1);
    expect(offline[0]).toHaveTextContent('Allergies viewed');
    expect(offline[0]).toHaveTextContent('Offline');
    expect(calls(backend, 'accessReport')).toBe(1);

    // Asking again asks (and audits) again: nothing is kept.
    await user.click(screen.getByTestId('access-report-submit'));
    await waitFor(() => expect(calls(backend, 'accessReport')).toBe(2));
  });

  it('shows what a user viewed, and marks emergency access', async () => {
    const { user } = renderWorkspace();
    await user.type(screen.getByTestId('report-username'), 'nurse-b');
    await user.click(screen.getByTestId('access-report-submit'));
    const report = await screen.findByTestId('access-report');
    expect(screen.getByTestId('access-report-subject')).toHaveTextContent('What Jo Tanaka (synthetic) · nurse-b viewed');
    const rows = within(report).getAllByTestId('access-row');
    expect(rows.every((r) => r.textContent?.includes('nurse-b'))).toBe(true);
    const emergency = rows.filter((r) => r.dataset['purpose'] === 'ETREAT');
    expect(emergency).toHaveLength(5);
    expect(emergency[0]).toHaveTextContent('Emergency treatment');
    expect(emergency.some((r) => r.textContent?.includes('DELACROIX, Rosa'))).toBe(true);
  });

  it('says plainly when nothing matches, without repeating the MRN, and checks the period first', async () => {
    const backend = officerBackend();
    const { user } = renderWorkspace(backend);
    await user.type(screen.getByTestId('report-mrn'), 'SYN-000404');
    await user.click(screen.getByTestId('access-report-submit'));
    const error = await screen.findByTestId('error-panel');
    expect(error).toHaveAttribute('data-error-code', 'not_found');
    expect(error).not.toHaveTextContent('SYN-000404');

    await user.clear(screen.getByTestId('report-mrn'));
    await user.type(screen.getByTestId('report-from'), '2026-03-02T10:00');
    await user.type(screen.getByTestId('report-to'), '2026-03-01T10:00');
    await user.click(screen.getByTestId('access-report-submit'));
    expect(screen.getByTestId('access-report-form-error')).toHaveTextContent('end after it starts');
    expect(calls(backend, 'accessReport')).toBe(1);
  });

  it('exports the report as CSV and as FHIR, saying where the file is', async () => {
    const backend = officerBackend();
    const { user } = renderWorkspace(backend);
    await user.type(screen.getByTestId('report-mrn'), outsideChart().patient.mrn);
    await user.click(screen.getByTestId('access-report-submit'));
    await screen.findByTestId('access-report');
    await user.click(screen.getByTestId('export-csv'));
    expect(await screen.findByTestId('export-saved')).toHaveTextContent(/Saved 6 events as CSV to .*wardbook-access-report-.*\.csv/);
    await user.click(screen.getByTestId('export-fhir'));
    await waitFor(() => expect(screen.getByTestId('export-saved')).toHaveTextContent(/as FHIR AuditEvents to .*\.json/));
    const formats = backend.calls.filter((c) => c.method === 'exportAccessReport').map((c) => c.args[1]);
    expect(formats).toEqual(['csv', 'fhir']);
  });

  it('prints the report from its own view, an audited print', async () => {
    const backend = officerBackend();
    const print = vi.spyOn(window, 'print').mockImplementation(() => undefined);
    const { user } = renderWorkspace(backend);
    await user.type(screen.getByTestId('report-username'), 'dev-clinician');
    await user.click(screen.getByTestId('access-report-submit'));
    await screen.findByTestId('access-report');
    await user.click(screen.getByTestId('print-report'));
    const sheet = await screen.findByTestId('access-report-print');
    expect(sheet).toHaveTextContent('what Sam Reyes (synthetic) · dev-clinician viewed');
    expect(within(sheet).getAllByTestId('access-row').length).toBe(Number(sheet.dataset['rows']));
    expect(calls(backend, 'printAccessReport')).toBe(1);
    await user.click(screen.getByTestId('print-report-now'));
    expect(print).toHaveBeenCalledOnce();
    await user.click(screen.getByTestId('print-back'));
    expect(await screen.findByTestId('access-report-form')).toBeInTheDocument();
  });

  it('needs the service: offline, the workspace says so and shows nothing', async () => {
    const backend = officerBackend();
    backend.status.online = false;
    const { user } = renderWorkspace(backend);
    await user.type(screen.getByTestId('report-username'), 'nurse-b');
    await user.click(screen.getByTestId('access-report-submit'));
    const error = await screen.findByTestId('error-panel');
    expect(error).toHaveAttribute('data-error-code', 'needs_service');
    expect(error).toHaveTextContent('needs the sync service');
    expect(screen.queryByTestId('access-row')).not.toBeInTheDocument();
  });
});

describe('emergency access reviews', () => {
  it('lists the pending access with its reason, duration and what was viewed, and records a final review', async () => {
    const backend = officerBackend();
    const { user } = renderWorkspace(backend);
    await user.click(screen.getByTestId('privacy-tab-reviews'));
    const card = await screen.findByTestId('break-glass-access');
    expect(card.dataset['accessId']).toBe(PENDING_ACCESS_ID);
    expect(within(card).getByTestId('access-reason')).toHaveTextContent('Found collapsed in the corridor outside 7B');
    expect(within(card).getByTestId('access-duration')).toHaveTextContent('14 min (ended by the workstation)');
    expect(card).toHaveTextContent('DELACROIX, Rosa');
    expect(card).toHaveTextContent('Jo Tanaka (synthetic) · nurse-b');
    const viewed = within(within(card).getByTestId('access-viewed')).getAllByTestId('access-row');
    expect(viewed.map((r) => r.dataset['subtype'])).toEqual([
      'break-glass-start',
      'chart-open',
      'allergies-view',
      'vitals-view',
      'break-glass-stop',
    ]);
    // A chart open is one event for all the chart shows on opening; the label says what that was.
    expect(viewed[1]).toHaveTextContent('Chart opened (header, allergies, vital signs)');
    expect(screen.getByTestId('queue-pending')).toHaveAttribute('data-count', '1');
    expect(calls(backend, 'breakGlassQueue')).toBe(1);

    // Both the finding and a note are required.
    await user.click(within(card).getByTestId('review-submit'));
    expect(within(card).getByTestId('review-error')).toHaveTextContent('appropriate');
    await user.click(within(card).getByTestId('review-justified'));
    await user.click(within(card).getByTestId('review-submit'));
    expect(within(card).getByTestId('review-error')).toHaveTextContent('note');
    expect(calls(backend, 'reviewBreakGlass')).toBe(0);

    await user.type(within(card).getByTestId('review-note'), 'Seen in ED by this nurse; appropriate.');
    await user.click(within(card).getByTestId('review-submit'));
    const review = await within(card).findByTestId('access-review');
    expect(review).toHaveTextContent('Appropriate, reviewed by Kim Osei (synthetic) · dev-privacy');
    expect(review).toHaveTextContent('Seen in ED by this nurse; appropriate.');
    expect(card).toHaveAttribute('data-status', 'justified');
    expect(screen.getByTestId('queue-pending')).toHaveAttribute('data-count', '0');
    expect(within(card).queryByTestId('review-form')).not.toBeInTheDocument();

    // A review is final.
    await expect(backend.reviewBreakGlass(PENDING_ACCESS_ID, { outcome: 'unjustified', note: 'again' })).rejects.toMatchObject({
      code: 'already_reviewed',
    });
    await user.selectOptions(screen.getByTestId('queue-filter'), 'reviewed');
    await waitFor(() => expect(screen.getAllByTestId('break-glass-access')).toHaveLength(2));
    expect(calls(backend, 'breakGlassQueue')).toBe(2);
  });
});

describe('audit chains', () => {
  it('shows every workstation, the broken chain with its first gap and the refused upload', async () => {
    const backend = officerBackend();
    const { user } = renderWorkspace(backend);
    await user.click(screen.getByTestId('privacy-tab-chains'));
    const rows = await screen.findAllByTestId('chain-row');
    expect(rows.map((r) => r.dataset['state'])).toEqual(['empty', 'continuous', 'broken']);
    const broken = rows[2]!;
    expect(broken).toHaveTextContent('ward-7b-ws2');
    expect(broken).toHaveTextContent('Broken at sequence 118: events missing');
    expect(broken).toHaveTextContent('upload refused');
    expect(broken.dataset['findings']).toBe('1');
    expect(rows[1]).toHaveTextContent('Continuous');
    expect(screen.getByTestId('chains-summary')).toHaveTextContent('1 need attention');
    await user.click(screen.getByTestId('chains-refresh'));
    await waitFor(() => expect(calls(backend, 'auditChains')).toBe(2));
  });
});
