// Fails when src/client is not what `npm run generate` makes from openapi.json: the committed
// client must follow the committed spec (scripts/web.sh client regenerates both).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const committed = new URL('../src/client', import.meta.url).pathname;
const fresh = mkdtempSync(join(tmpdir(), 'tickerpulse-client-'));

function files(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

try {
  execFileSync('npx', ['openapi-ts', '--silent', '--no-log-file', '-o', fresh], { stdio: 'inherit' });
  const want = files(fresh);
  const have = files(committed);
  const differing = [...new Set([...want, ...have])].filter(
    (name) =>
      !want.includes(name) ||
      !have.includes(name) ||
      readFileSync(join(fresh, name), 'utf8') !== readFileSync(join(committed, name), 'utf8'),
  );
  if (differing.length) {
    console.error(
      `src/client is out of date with openapi.json (${differing.join(', ')}): run scripts/web.sh client`,
    );
    process.exit(1);
  }
  console.log(`src/client matches openapi.json (${want.length} files)`);
} finally {
  rmSync(fresh, { recursive: true, force: true });
}
