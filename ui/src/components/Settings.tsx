import { useState, type FormEvent } from 'react';

import type { SettingSource } from '../generated/SettingSource';
import type { SettingValue } from '../generated/SettingValue';
import type { SettingsView } from '../generated/SettingsView';
import { useBackend } from '../backend';
import { formatEnvironment } from '../format';
import { useStatusRefresh } from '../statusRefresh';
import { useBackendCall } from '../useBackendCall';
import { ErrorPanel } from './ErrorPanel';
import { FormFooter, useFormSubmit } from './FormFooter';
import { LockIcon } from './Icons';

type PolicyKey =
  | 'server_url'
  | 'ca_file'
  | 'data_dir'
  | 'idle_lock_minutes'
  | 'offline_login_hours'
  | 'data_age_warning_minutes'
  | 'break_glass_minutes'
  | 'audit_retention_days'
  | 'sync_interval_seconds'
  | 'updates_allowed';

const POLICY: Array<[PolicyKey, string, string]> = [
  ['server_url', 'Sync server', ''],
  ['ca_file', 'Hospital CA certificate file', ''],
  ['data_dir', 'Data directory', ''],
  ['idle_lock_minutes', 'Lock after idle', 'minutes'],
  ['offline_login_hours', 'Offline sign-in allowed for', 'hours after an online sign-in'],
  ['data_age_warning_minutes', 'Warn when data is older than', 'minutes'],
  ['break_glass_minutes', 'Emergency access lasts', 'minutes'],
  ['audit_retention_days', 'Keep uploaded audit events', 'days'],
  ['sync_interval_seconds', 'Sync every', 'seconds'],
  ['updates_allowed', 'Updates offered by Wardbook', ''],
];

const SOURCE: Record<SettingSource, string> = {
  default: 'Default',
  'user-settings': 'Your settings file',
  environment: 'Environment variable',
  policy: 'Set by your IT policy',
};

function shown(id: PolicyKey, value: string, unit: string): string {
  if (id === 'updates_allowed') return value === 'true' ? 'Allowed' : 'No (IT installs updates)';
  return `${value}${unit ? ` ${unit}` : ''}`;
}

function PolicyValue({ id, label, unit, setting }: { id: PolicyKey; label: string; unit: string; setting: SettingValue }) {
  return (
    <div
      className="setting-row"
      data-testid={`setting-${id}`}
      data-locked={setting.locked ? 'true' : 'false'}
      data-source={setting.source}
    >
      <dt>{label}</dt>
      <dd>
        <span className={id === 'data_dir' || id === 'ca_file' ? 'setting-value mono' : 'setting-value'}>
          {setting.value === null ? <span className="muted">Not set</span> : shown(id, setting.value, unit)}
        </span>
        {setting.locked ? (
          <span className="setting-lock">
            <LockIcon /> {SOURCE.policy}
          </span>
        ) : (
          <span className="muted setting-source">{SOURCE[setting.source]}</span>
        )}
      </dd>
    </div>
  );
}

function Enrol({ settings, onEnrolled }: { settings: SettingsView; onEnrolled: (s: SettingsView) => void }) {
  const backend = useBackend();
  const [server, setServer] = useState(settings.server_url.value ?? '');
  const [code, setCode] = useState('');
  const { error, setError, busy, run } = useFormSubmit();
  const serverLocked = settings.server_url.locked && settings.server_url.value !== null;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!serverLocked && server.trim().length === 0) {
      setError('Enter the sync server address IT gave you (it starts with https://).');
      return;
    }
    if (code.trim().length === 0) {
      setError('Enter the enrolment code IT gave you.');
      return;
    }
    const request = { server_url: serverLocked ? null : server.trim(), code: code.trim() };
    await run(async () => onEnrolled(await backend.enroll(request)));
  };

  return (
    <form className="card record-form" onSubmit={submit} aria-labelledby="enrol-title" noValidate data-testid="enrol-form">
      <h2 id="enrol-title">Enrol this workstation</h2>
      <p>This workstation is not enrolled yet. IT gives you a one-time enrolment code for your ward.</p>
      {serverLocked ? (
        <p>
          Sync server: <span className="mono">{settings.server_url.value}</span>{' '}
          <span className="setting-lock">
            <LockIcon /> Set by your IT policy
          </span>
        </p>
      ) : (
        <label className="field">
          <span>Sync server address</span>
          <input
            data-testid="enrol-server"
            name="server_url"
            type="url"
            placeholder="https://"
            value={server}
            onChange={(e) => setServer(e.target.value)}
            spellCheck={false}
          />
        </label>
      )}
      <label className="field">
        <span>Enrolment code</span>
        <input
          data-testid="enrol-code"
          name="code"
          autoComplete="off"
          value={code}
          onChange={(e) => setCode(e.target.value)}
          spellCheck={false}
        />
      </label>
      <FormFooter testId="enrol" error={error} busy={busy} submitLabel="Enrol" busyLabel="Enrolling…" />
    </form>
  );
}

/** About this workstation and its policy values; first-run enrolment. */
export function Settings() {
  const backend = useBackend();
  const refreshStatus = useStatusRefresh();
  const [state, retry] = useBackendCall(() => backend.settings(), [backend]);
  const [updated, setUpdated] = useState<SettingsView | null>(null);

  if (state.status === 'loading') return <p className="loading" role="status">Loading settings…</p>;
  if (state.status === 'error') return <ErrorPanel title="The settings could not be read." error={state.error} onRetry={retry} />;
  const s = updated ?? state.value;

  return (
    <section className="settings-view" data-testid="settings-view" aria-labelledby="settings-title">
      <h1 id="settings-title">Settings and about</h1>
      {!s.enrolled && (
        <Enrol
          settings={s}
          onEnrolled={(next) => {
            setUpdated(next);
            refreshStatus();
          }}
        />
      )}
      <div className="settings-grid">
        <section className="card" aria-labelledby="about-title">
          <h2 id="about-title">This workstation</h2>
          <dl className="record-fields">
            <div>
              <dt>Version</dt>
              <dd data-testid="settings-version">{s.version}</dd>
            </div>
            <div>
              <dt>Environment</dt>
              <dd data-testid="settings-environment" data-source={s.environment_source}>
                {formatEnvironment(s.environment)}
                {s.environment_source === 'policy' && (
                  <span className="setting-lock">
                    {' '}
                    <LockIcon /> {SOURCE.policy}
                  </span>
                )}
              </dd>
            </div>
            <div>
              <dt>Enrolment</dt>
              <dd data-testid="settings-enrolled">{s.enrolled ? 'Enrolled' : 'Not enrolled'}</dd>
            </div>
            <div>
              <dt>Device id</dt>
              <dd className="mono">{s.device_id}</dd>
            </div>
            <div>
              <dt>Locations served</dt>
              <dd>{s.locations.length === 0 ? <span className="muted">None yet</span> : s.locations.join(', ')}</dd>
            </div>
            <div>
              <dt>Policy file</dt>
              <dd className="mono">{s.policy_file ?? <span className="muted">None (defaults apply)</span>}</dd>
            </div>
            <div>
              <dt>Your settings file</dt>
              <dd className="mono">{s.user_settings_file ?? <span className="muted">None</span>}</dd>
            </div>
          </dl>
        </section>
        <section className="card" aria-labelledby="policy-title">
          <h2 id="policy-title">Policy</h2>
          <p className="muted">
            Values marked <LockIcon /> are set by your IT department’s policy file and cannot be
            changed on this workstation. The others come from the defaults, your settings file or the
            environment; IT can fix any of them in the policy file.
          </p>
          <dl className="record-fields">
            {POLICY.map(([key, label, unit]) => (
              <PolicyValue key={key} id={key} label={label} unit={unit} setting={s[key]} />
            ))}
          </dl>
        </section>
      </div>
    </section>
  );
}
