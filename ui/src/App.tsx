import { useCallback, useEffect, useMemo, useRef, useState } from 'react';

import type { SessionInfo } from './generated/SessionInfo';
import type { SessionState } from './generated/SessionState';
import { BackendProvider, toUiError, useBackend } from './backend';
import { watchSession } from './backend/watch';
import { BreakGlass } from './components/BreakGlass';
import { Census } from './components/Census';
import { Chart } from './components/Chart';
import { Conflicts } from './components/Conflicts';
import { DowntimeSummaryView } from './components/DowntimeSummary';
import { ErrorPanel } from './components/ErrorPanel';
import { Frame } from './components/Frame';
import { MarPrintView } from './components/MarPrint';
import { Settings } from './components/Settings';
import { StatusBar } from './components/StatusBar';
import { LockScreen } from './session/LockScreen';
import { PinSetup } from './session/PinSetup';
import { SignInForm } from './session/SignIn';
import { StatusRefreshContext } from './statusRefresh';
import { useBackendCall } from './useBackendCall';
import { LockIcon } from './components/Icons';
import { PrivacyWorkspace } from './privacy/PrivacyWorkspace';
import { usePrivacyAccess } from './privacy/usePrivacyAccess';

/** How often the session is re-read (it can lock on idle in the core). */
export const SESSION_POLL_MS = 3_000;
/** Activity is reported at most this often. */
export const ACTIVITY_THROTTLE_MS = 5_000;

type Screen =
  | { kind: 'census'; returnFocusTo: string | null }
  | { kind: 'chart'; patientId: string; possibleDoubleDose?: boolean }
  | { kind: 'summary'; patientId: string }
  /** The MAR printout of one patient, or of the ward (null). */
  | { kind: 'mar-print'; patientId: string | null }
  | { kind: 'conflicts' }
  | { kind: 'settings' }
  | { kind: 'break-glass' }
  /** The privacy officer's workspace (privacy officers only). */
  | { kind: 'privacy' };

const CENSUS: Screen = { kind: 'census', returnFocusTo: null };

export function App() {
  const rawBackend = useBackend();
  const [session, setSession] = useState<SessionState | null>(null);
  const [sessionError, setSessionError] = useState<string | null>(null);
  const [screen, setScreen] = useState<Screen>(CENSUS);
  const [statusKey, setStatusKey] = useState(0);
  const lastUser = useRef<string | null>(null);

  const readSession = useCallback(() => {
    rawBackend.session().then(
      (s) => {
        setSession(s);
        setSessionError(null);
      },
      (e: unknown) => setSessionError(toUiError(e).message),
    );
  }, [rawBackend]);

  // Any call refused because the session locked or ended re-reads it at once.
  const backend = useMemo(() => watchSession(rawBackend, readSession), [rawBackend, readSession]);
  const [info, retryInfo] = useBackendCall(() => backend.appInfo(), [backend]);

  useEffect(() => {
    readSession();
    const timer = window.setInterval(readSession, SESSION_POLL_MS);
    return () => window.clearInterval(timer);
  }, [readSession]);

  // The window title never names a patient.
  useEffect(() => {
    document.title = 'Wardbook';
  }, [screen]);

  const active = session?.state === 'active' ? session.session : null;
  // Privacy officers get their workspace; one without the clinician role starts (and stays) there.
  const privacy = usePrivacyAccess(backend, active ? `${active.user_id} ${active.started_at}` : null);
  const privacyOnly = privacy !== null && privacy.privacy_officer && !privacy.clinician;
  useEffect(() => {
    if (privacyOnly) setScreen({ kind: 'privacy' });
  }, [privacyOnly]);

  // A different clinician starts on the census; the same one returns to where they were.
  useEffect(() => {
    if (session?.state === 'signed_out') {
      lastUser.current = null;
      setScreen((s) => (s.kind === 'settings' ? s : CENSUS));
    } else if (active && lastUser.current !== active.user_id) {
      if (lastUser.current !== null) setScreen(CENSUS);
      lastUser.current = active.user_id;
    }
  }, [session, active]);

  // Keyboard, pointer and wheel activity postpone the idle lock (throttled).
  const lastActivity = useRef(0);
  const isActive = active !== null;
  useEffect(() => {
    if (!isActive) return undefined;
    const report = () => {
      const now = Date.now();
      if (now - lastActivity.current < ACTIVITY_THROTTLE_MS) return;
      lastActivity.current = now;
      backend.activity().catch(() => undefined);
    };
    const events = ['keydown', 'pointerdown', 'wheel'] as const;
    events.forEach((e) => window.addEventListener(e, report, { passive: true }));
    return () => events.forEach((e) => window.removeEventListener(e, report));
  }, [isActive, backend]);

  const refreshStatus = useCallback(() => setStatusKey((n) => n + 1), []);

  const onSignedIn = useCallback((s: SessionInfo) => {
    setSession({ state: 'active', session: s });
    refreshStatus();
  }, [refreshStatus]);

  // A browser sign-in answers the new session's state: active, or waiting for its PIN.
  const onSessionState = useCallback((s: SessionState) => {
    setSession(s);
    refreshStatus();
  }, [refreshStatus]);

  const lockNow = useCallback(async () => {
    const current = active;
    try {
      await backend.lock();
      // Where it now stands, with what unlocks it (password or workstation PIN).
      const locked: SessionState = current
        ? { state: 'locked', user_id: current.user_id, display_name: current.display_name, unlock_with: 'password' }
        : { state: 'signed_out' };
      setSession(await backend.session().catch(() => locked));
    } catch {
      // The poll shows where the session stands.
    }
    readSession();
  }, [active, backend, readSession]);

  const signOut = useCallback(async () => {
    try {
      await backend.signOut();
      setSession({ state: 'signed_out' });
    } catch {
      // The poll shows where the session stands.
    }
    readSession();
  }, [backend, readSession]);

  const openChart = useCallback(
    (patientId: string, hints?: { possibleDoubleDose?: boolean }) =>
      setScreen({ kind: 'chart', patientId, possibleDoubleDose: hints?.possibleDoubleDose ?? false }),
    [],
  );
  const backToCensus = useCallback(
    () => setScreen((s) => ({ kind: 'census', returnFocusTo: s.kind === 'chart' ? s.patientId : null })),
    [],
  );
  const printWardMar = useCallback(() => setScreen({ kind: 'mar-print', patientId: null }), []);
  const openConflicts = useCallback(() => setScreen({ kind: 'conflicts' }), []);
  const openSettings = useCallback(() => setScreen({ kind: 'settings' }), []);

  const appInfo = info.status === 'ready' ? info.value : null;

  let nav = null;
  if (active && screen.kind !== 'census' && !(privacyOnly && screen.kind === 'privacy')) {
    nav = (
      <button type="button" className="button back-button" data-testid="back-to-census" onClick={backToCensus}>
        <span aria-hidden="true">←</span> {privacyOnly ? 'Privacy workspace' : 'Ward census'} {screen.kind === 'chart' && <kbd>Esc</kbd>}
      </button>
    );
  } else if (!active && session?.state === 'signed_out' && screen.kind === 'settings') {
    nav = (
      <button type="button" className="button back-button" onClick={() => setScreen(CENSUS)}>
        <span aria-hidden="true">←</span> Sign in
      </button>
    );
  }

  let actions = null;
  if (active) {
    actions = (
      <>
        {privacy?.privacy_officer && !privacyOnly && screen.kind !== 'privacy' && (
          <button type="button" className="button" data-testid="nav-privacy" onClick={() => setScreen({ kind: 'privacy' })}>
            Privacy workspace
          </button>
        )}
        {!privacyOnly && (
          <>
            <button type="button" className="button" data-testid="break-glass" onClick={() => setScreen({ kind: 'break-glass' })}>
              <span aria-hidden="true">⚠ </span>Emergency access
            </button>
            <button type="button" className="button" data-testid="nav-conflicts" onClick={openConflicts}>
              Edits to review
            </button>
          </>
        )}
        <button type="button" className="button" data-testid="nav-settings" onClick={openSettings}>
          Settings
        </button>
        <button type="button" className="button" data-testid="lock-now" onClick={() => void lockNow()}>
          <LockIcon /> Lock
        </button>
        <button type="button" className="button" data-testid="sign-out" onClick={() => void signOut()}>
          Sign out
        </button>
      </>
    );
  } else if (session?.state === 'signed_out') {
    actions = (
      <button type="button" className="button" data-testid="nav-settings" onClick={openSettings}>
        Settings
      </button>
    );
  }

  let body;
  if (session === null) {
    body = sessionError ? (
      <ErrorPanel title="Wardbook could not check who is signed in." error={{ code: 'session', message: sessionError }} onRetry={readSession} />
    ) : (
      <p className="loading" role="status">
        Starting…
      </p>
    );
  } else if (session.state === 'signed_out') {
    body =
      screen.kind === 'settings' ? (
        <Settings />
      ) : (
        <div className="auth-screen">
          <SignInForm onSignedIn={onSignedIn} onSession={onSessionState} />
        </div>
      );
  } else if (session.state === 'locked') {
    // Nothing of the patient screens is mounted while locked.
    body = (
      <LockScreen
        key={session.user_id}
        displayName={session.display_name}
        unlockWith={session.unlock_with}
        onUnlocked={onSignedIn}
        onSession={onSessionState}
      />
    );
  } else if (session.state === 'pin_setup') {
    // Nothing of the patient screens either: the clinician chooses a PIN first.
    body = (
      <PinSetup
        key={session.user_id}
        displayName={session.display_name}
        minLength={session.pin_min_length}
        onDone={onSignedIn}
        onSignOut={() => void signOut()}
      />
    );
  } else {
    const grants = session.session.break_glass;
    switch (screen.kind) {
      case 'census':
        body =
          privacyOnly && privacy ? (
            <PrivacyWorkspace access={privacy} />
          ) : (
            <Census onOpenChart={openChart} returnFocusTo={screen.returnFocusTo} onPrintWardMar={printWardMar} />
          );
        break;
      case 'chart':
        body = (
          <Chart
            key={screen.patientId}
            patientId={screen.patientId}
            onBack={backToCensus}
            breakGlass={grants.find((g) => g.patient_id === screen.patientId) ?? null}
            onOpenSummary={() => setScreen({ kind: 'summary', patientId: screen.patientId })}
            onPrintMar={() => setScreen({ kind: 'mar-print', patientId: screen.patientId })}
            possibleDoubleDose={screen.possibleDoubleDose ?? false}
          />
        );
        break;
      case 'mar-print': {
        const { patientId } = screen;
        body = (
          <MarPrintView
            key={patientId ?? 'ward'}
            patientId={patientId}
            onBack={() => (patientId === null ? setScreen(CENSUS) : setScreen({ kind: 'chart', patientId }))}
          />
        );
        break;
      }
      case 'summary':
        body = (
          <DowntimeSummaryView
            patientId={screen.patientId}
            onBack={() => setScreen({ kind: 'chart', patientId: screen.patientId })}
          />
        );
        break;
      case 'conflicts':
        body = <Conflicts />;
        break;
      case 'privacy':
        body = privacy?.privacy_officer ? (
          <PrivacyWorkspace access={privacy} />
        ) : (
          <Census onOpenChart={openChart} returnFocusTo={null} onPrintWardMar={printWardMar} />
        );
        break;
      case 'settings':
        body = <Settings />;
        break;
      case 'break-glass':
        // The reason's limits come with the app info (its failure is shown above, with a retry).
        body = appInfo ? (
          <BreakGlass
            limits={appInfo.break_glass_reason}
            onOpened={(patientId) => {
              readSession();
              openChart(patientId);
            }}
            onCancel={backToCensus}
          />
        ) : info.status === 'loading' ? (
          <p className="loading" role="status">
            Loading…
          </p>
        ) : null;
        break;
    }
  }

  return (
    <BackendProvider backend={backend}>
      <StatusRefreshContext.Provider value={refreshStatus}>
        <Frame
          info={appInfo}
          nav={nav}
          actions={actions}
          user={active ? { displayName: active.display_name, mode: active.mode } : null}
          footer={
            <StatusBar
              warningMinutes={appInfo?.data_age_warning_minutes ?? 120}
              refreshKey={statusKey}
              onOpenConflicts={active ? openConflicts : undefined}
            />
          }
        >
          {info.status === 'error' && (
            <ErrorPanel title="Wardbook could not read its status." error={info.error} onRetry={retryInfo} />
          )}
          {active?.mode === 'offline' && (
            <p className="offline-note" role="note">
              <strong>Offline session.</strong> The server cannot be reached: you see the records this workstation
              holds, and what you record uploads when the connection returns.
            </p>
          )}
          {body}
        </Frame>
      </StatusRefreshContext.Provider>
    </BackendProvider>
  );
}
