import { screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';

import { sampleBackend } from '../backend/fixtures';
import { renderWith } from '../test/render';
import { Conflicts } from './Conflicts';

describe('Conflicts', () => {
  it('shows both versions side by side, marking the fields that differ', async () => {
    renderWith(sampleBackend(), <Conflicts />);
    const item = await screen.findByTestId('conflict-item');
    expect(item).toHaveTextContent('OKAFOR, Amelia');
    const differing = item.querySelectorAll('tr[data-differs="true"]');
    const labels = [...differing].map((r) => r.querySelector('th')?.textContent);
    expect(labels).toEqual(expect.arrayContaining(['Criticality (differs)', 'Clinical status (differs)', 'Verification (differs)']));
    const crit = [...differing].find((r) => r.textContent?.startsWith('Criticality'))!;
    expect(within(crit as HTMLElement).getByTestId('conflict-mine')).toHaveTextContent('HIGH');
    expect(within(crit as HTMLElement).getByTestId('conflict-server')).toHaveTextContent('Low');
    const rejected = screen.getByTestId('rejected-item');
    expect(rejected).toHaveTextContent('The server refused this edit');
    expect(rejected).toHaveTextContent('moved out of this workstation’s ward');
  });

  it('re-applies an edit through the backend', async () => {
    const backend = sampleBackend();
    const { user } = renderWith(backend, <Conflicts />);
    await user.click(await screen.findByTestId('conflict-reapply'));
    await waitFor(() => expect(screen.queryByTestId('conflict-item')).not.toBeInTheDocument());
    expect(backend.calls.find((c) => c.method === 'reapplyConflict')?.args).toEqual(['0190f5a8-0000-7000-8000-00000000c001']);
    expect(screen.getByTestId('conflicts-view')).toHaveTextContent('No conflicts.');
  });

  it('asks for confirmation before discarding', async () => {
    const backend = sampleBackend();
    const { user } = renderWith(backend, <Conflicts />);
    await user.click(await screen.findByTestId('conflict-discard'));
    expect(backend.count('discardConflict')).toBe(0);
    await user.click(screen.getByRole('button', { name: 'Keep it' }));
    expect(backend.count('discardConflict')).toBe(0);
    await user.click(screen.getByTestId('conflict-discard'));
    await user.click(screen.getByTestId('conflict-discard-confirm'));
    await waitFor(() => expect(backend.count('discardConflict')).toBe(1));
    await waitFor(() => expect(screen.queryByTestId('conflict-item')).not.toBeInTheDocument());
  });

  it('shows the backend message when re-applying fails', async () => {
    const backend = sampleBackend({ failures: { reapplyConflict: { code: 'offline', message: 'Wardbook is offline. Try again when it is online.' } } });
    const { user } = renderWith(backend, <Conflicts />);
    await user.click(await screen.findByTestId('conflict-reapply'));
    expect(await screen.findByRole('alert')).toHaveTextContent('Wardbook is offline. Try again when it is online.');
  });
});
