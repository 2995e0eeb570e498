import { useState, type ReactNode } from 'react';

import { toUiError } from '../backend';

/**
 * The state every form that calls the backend keeps: the error to show (the
 * backend's plain sentence, or the form's own check) and whether a call is
 * under way. `run` clears the error, runs the call, and shows its failure.
 */
export function useFormSubmit() {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (e) {
      setError(toUiError(e).message);
    } finally {
      setBusy(false);
    }
  };
  return { error, setError, busy, run };
}

interface FooterProps {
  /** Test-id prefix: `<testId>-error`, `<testId>-submit`. */
  testId: string;
  error: string | null;
  busy: boolean;
  submitLabel: string;
  /** Shown on the submit button while the call runs (default: the label). */
  busyLabel?: string;
  danger?: boolean;
  /** A Cancel button when given. */
  onCancel?: (() => void) | undefined;
  /** Other buttons after submit (and Cancel). */
  children?: ReactNode;
}

/** A form's error (announced) and its submit and cancel buttons. */
export function FormFooter({ testId, error, busy, submitLabel, busyLabel, danger = false, onCancel, children }: FooterProps) {
  return (
    <>
      {error && (
        <p className="form-error" role="alert" data-testid={`${testId}-error`}>
          {error}
        </p>
      )}
      <div className="form-actions">
        <button type="submit" className={`button ${danger ? 'danger' : 'primary'}`} data-testid={`${testId}-submit`} disabled={busy}>
          {busy ? (busyLabel ?? submitLabel) : submitLabel}
        </button>
        {onCancel && (
          <button type="button" className="button" onClick={onCancel}>
            Cancel
          </button>
        )}
        {children}
      </div>
    </>
  );
}
