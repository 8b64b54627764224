// The API key the page uses for writes and for the metrics/alerts stream, kept in this
// browser's localStorage (never sent anywhere but this API).
import { useEffect, useState } from 'react';

import { saveApiKey, useApiKey } from '@/lib/api-key';

export function ApiKeyField() {
  const stored = useApiKey();
  const [text, setText] = useState(stored);
  const [shown, setShown] = useState(false);
  useEffect(() => setText(stored), [stored]);
  const changed = text.trim() !== stored;

  return (
    <form
      className="api-key"
      onSubmit={(event) => {
        event.preventDefault();
        saveApiKey(text);
      }}
    >
      <label htmlFor="api-key">API key</label>
      <input
        id="api-key"
        className="text-input"
        type={shown ? 'text' : 'password'}
        autoComplete="off"
        spellCheck={false}
        placeholder="tickerpulse apikey create NAME"
        value={text}
        onChange={(event) => setText(event.target.value)}
      />
      <button type="button" className="link-button" onClick={() => setShown(!shown)} aria-pressed={shown}>
        {shown ? 'Hide' : 'Show'}
      </button>
      <button type="submit" disabled={!changed}>
        Save
      </button>
      {stored && (
        <button
          type="button"
          onClick={() => {
            saveApiKey('');
            setText('');
          }}
        >
          Forget
        </button>
      )}
      <span className="muted small" data-testid="api-key-state">
        {stored ? 'key saved in this browser' : 'no key: read-only'}
      </span>
    </form>
  );
}
