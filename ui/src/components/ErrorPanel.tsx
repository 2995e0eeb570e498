import type { UiError } from '../generated/UiError';

interface Props {
  /** What was being attempted, e.g. "Could not open the chart". */
  title: string;
  error: UiError;
  onRetry?: () => void;
}

/** A failure, said plainly, with the backend's message and what to do next. */
export function ErrorPanel({ title, error, onRetry }: Props) {
  return (
    <div className="error-panel" role="alert" data-testid="error-panel" data-error-code={error.code}>
      <p className="error-title">{title}</p>
      <p className="error-message">{error.message}</p>
      <p className="error-code">Reference code: {error.code}</p>
      {onRetry && (
        <button type="button" className="button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}
