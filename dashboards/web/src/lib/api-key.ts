// The API key the page sends as X-API-Key on writes (and as the stream's token), kept in
// localStorage so it survives reloads. Reads go through useApiKey so every panel sees a change.
import { useSyncExternalStore } from 'react';

export const API_KEY_STORAGE = 'tickerpulse.apiKey';
const CHANGED = 'tickerpulse:api-key';

export function readApiKey(): string {
  try {
    return window.localStorage.getItem(API_KEY_STORAGE) ?? '';
  } catch {
    return ''; // storage disabled: the page still reads, it cannot write
  }
}

export function saveApiKey(key: string): void {
  const trimmed = key.trim();
  if (trimmed) window.localStorage.setItem(API_KEY_STORAGE, trimmed);
  else window.localStorage.removeItem(API_KEY_STORAGE);
  window.dispatchEvent(new Event(CHANGED));
}

function subscribe(onChange: () => void): () => void {
  // `storage` fires when another tab changes the key; CHANGED when this one does.
  window.addEventListener('storage', onChange);
  window.addEventListener(CHANGED, onChange);
  return () => {
    window.removeEventListener('storage', onChange);
    window.removeEventListener(CHANGED, onChange);
  };
}

export function useApiKey(): string {
  return useSyncExternalStore(subscribe, readApiKey, () => '');
}
