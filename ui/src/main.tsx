import { createRoot } from 'react-dom/client';
import { isTauri } from '@tauri-apps/api/core';

import './styles.css';
import { App } from './App';
import { BackendProvider, type Backend } from './backend';
import { TauriBackend } from './backend/tauri';

/** Outside the desktop shell in a production build there is nothing to talk to. */
class UnavailableBackend implements Backend {
  private fail(): Promise<never> {
    return Promise.reject({
      code: 'no-desktop-shell',
      message: 'Wardbook must be started from its desktop application; this page cannot reach patient data.',
    });
  }
  appInfo = () => this.fail();
  census = () => this.fail();
  openChart = () => this.fail();
}

async function chooseBackend(): Promise<Backend> {
  if (isTauri() || '__TAURI_INTERNALS__' in window) return new TauriBackend();
  // `npm run dev` in a plain browser: clearly labelled synthetic sample data.
  // Compiled out of production builds, which never fall back to sample data.
  if (import.meta.env.DEV) {
    const { sampleBackend } = await import('./backend/fixtures');
    return sampleBackend();
  }
  return new UnavailableBackend();
}

const container = document.getElementById('root');
if (!container) throw new Error('index.html has no #root element');

// No <StrictMode>: in development it runs effects twice, which would make
// every chart view two audited reads.
void chooseBackend().then((backend) => {
  createRoot(container).render(
    <BackendProvider backend={backend}>
      <App />
    </BackendProvider>,
  );
});
