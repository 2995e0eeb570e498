export { isUiError, toUiError, UNEXPECTED_ERROR, type Backend } from './backend';
export { BackendProvider, useBackend } from './context';
