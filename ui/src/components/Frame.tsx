import type { ReactNode } from 'react';

import type { AppInfo } from '../generated/AppInfo';
import { formatEnvironment } from '../format';

interface Props {
  /** Null until app_info has answered (or when it failed). */
  info: AppInfo | null;
  /** Screen-specific navigation (e.g. back to the census). */
  nav?: ReactNode;
  /** Session actions (emergency access, conflicts, settings, lock, sign out). */
  actions?: ReactNode;
  /** The signed-in clinician, when there is one. */
  user?: { displayName: string; mode: 'online' | 'offline' } | null;
  /** Always shown: the status bar. */
  footer?: ReactNode;
  children: ReactNode;
}

function LogoMark() {
  return (
    <svg className="logo" viewBox="0 0 1024 1024" aria-hidden="true" focusable="false">
      <rect x="32" y="32" width="960" height="960" rx="208" fill="#0f7c74" />
      <path d="M500 300 Q 360 236 176 260 L 176 740 Q 360 716 500 788 Z" fill="#fff" />
      <path d="M524 300 Q 664 236 848 260 L 848 740 Q 664 716 524 788 Z" fill="#fff" />
      <rect x="648" y="372" width="76" height="236" rx="14" fill="#0d6e68" />
      <rect x="568" y="452" width="236" height="76" rx="14" fill="#0d6e68" />
    </svg>
  );
}

/**
 * The window frame shown on every screen: the app name, the environment,
 * and an unmissable SYNTHETIC DATA banner whenever the local cache holds
 * generated data, and always outside production (development and test
 * only ever hold synthetic data), from the first screen on, before the
 * first sync has brought any.
 */
export function Frame({ info, nav, actions, user = null, footer, children }: Props) {
  return (
    <div className="app">
      {info && (info.synthetic_data || info.environment !== 'production') && (
        <div className="synthetic-banner" data-testid="synthetic-banner" role="note">
          <strong>SYNTHETIC DATA</strong>
          <span>Generated test patients, not real people. Not for clinical use.</span>
        </div>
      )}
      <header className="topbar">
        <div className="brand">
          <LogoMark />
          <span className="brand-name">Wardbook</span>
        </div>
        <nav className="topbar-nav" aria-label="Screen">
          {nav}
        </nav>
        {user && (
          <span
            className={`session-mode session-${user.mode}`}
            data-testid="session-mode"
            data-mode={user.mode}
            title={
              user.mode === 'offline'
                ? 'Signed in against this workstation while the server is unreachable. Your recordings upload when the connection returns.'
                : 'Signed in with the server.'
            }
          >
            {user.mode === 'online' ? 'Online session' : 'Offline session'}
          </span>
        )}
        {actions && <div className="topbar-actions">{actions}</div>}
        {info && (
          <dl className="topbar-meta">
            <div>
              <dt className="sr-only">Environment</dt>
              <dd
                className={`env-badge env-${info.environment}`}
                data-testid="environment"
                data-environment={info.environment}
              >
                {formatEnvironment(info.environment)}
              </dd>
            </div>
            {user && (
              <div>
                <dt>User</dt>
                <dd data-testid="user-id">{user.displayName}</dd>
              </div>
            )}
            <div>
              <dt className="sr-only">Version</dt>
              <dd className="version">v{info.version}</dd>
            </div>
          </dl>
        )}
      </header>
      <main className="content" id="main">
        <div className="content-inner">{children}</div>
      </main>
      {footer}
    </div>
  );
}
