import { render } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { ReactElement } from 'react';

import { App } from '../App';
import { BackendProvider } from '../backend';
import type { MemoryBackend } from '../backend/memory';

/** Renders the whole app over an in-memory backend. */
export function renderApp(backend: MemoryBackend) {
  const user = userEvent.setup();
  const result = render(
    <BackendProvider backend={backend}>
      <App />
    </BackendProvider>,
  );
  return { user, backend, ...result };
}

/** Renders one component over an in-memory backend. */
export function renderWith(backend: MemoryBackend, ui: ReactElement) {
  const user = userEvent.setup();
  const result = render(<BackendProvider backend={backend}>{ui}</BackendProvider>);
  return { user, backend, ...result };
}
