import { createRoot } from 'react-dom/client';
import { isTauri } from '@tauri-apps/api/core';

import './styles.css';
import { App } from './App';
import { BackendProvider, type Backend } from './backend';
import { TauriBackend } from './backend/tauri';
import { ensureValidLanguage } from './locale';

ensureValidLanguage();

/** Outside the desktop shell in a production build there is nothing to talk to. */
class UnavailableBackend implements Backend {
  private fail(): Promise<never> {
    return Promise.reject({
      code: 'no-desktop-shell',
      message: 'Wardbook must be started from its desktop application; this page cannot reach patient data.',
    });
  }
  appInfo = () => this.fail();
  syncStatus = () => this.fail();
  syncNow = () => this.fail();
  vitalSpecs = () => this.fail();
  settings = () => this.fail();
  enroll = () => this.fail();
  session = () => this.fail();
  signIn = () => this.fail();
  loginProviders = () => this.fail();
  signInOidc = () => this.fail();
  cancelOidc = () => this.fail();
  signInPin = () => this.fail();
  setPin = () => this.fail();
  unlock = () => this.fail();
  lock = () => this.fail();
  signOut = () => this.fail();
  activity = () => this.fail();
  breakGlass = () => this.fail();
  census = () => this.fail();
  search = () => this.fail();
  openChart = () => this.fail();
  viewVitals = () => this.fail();
  viewLabs = () => this.fail();
  viewAllergies = () => this.fail();
  editsNeedingAttention = () => this.fail();
  downtimeSummary = () => this.fail();
  medications = () => this.fail();
  printMar = () => this.fail();
  recordVitals = () => this.fail();
  saveAllergy = () => this.fail();
  markEnteredInError = () => this.fail();
  recordAdministration = () => this.fail();
  administrationEnteredInError = () => this.fail();
  reviewDoubleDose = () => this.fail();
  reapplyConflict = () => this.fail();
  discardConflict = () => this.fail();
  privacyAccess = () => this.fail();
  accessReport = () => this.fail();
  printAccessReport = () => this.fail();
  exportAccessReport = () => this.fail();
  breakGlassQueue = () => this.fail();
  reviewBreakGlass = () => this.fail();
  auditChains = () => this.fail();
}

async function chooseBackend(): Promise<Backend> {
  if (isTauri() || '__TAURI_INTERNALS__' in window) return new TauriBackend();
  // `npm run dev` in a plain browser: clearly labelled synthetic sample data.
  // Compiled out of production builds, which never fall back to sample data.
  if (import.meta.env.DEV) {
    // Starts signed out: sign in as dev-clinician / synthetic (see ui/README.md).
    const { sampleBackend } = await import('./backend/fixtures');
    return sampleBackend({ session: { state: 'signed_out' } });
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
