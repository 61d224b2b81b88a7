import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { loadSession, signOut } from './api.js';
import { CallPage } from './pages/call-page.js';
import { CallsPage } from './pages/calls-page.js';
import { DialPage } from './pages/dial-page.js';
import { HealthPage } from './pages/health-page.js';
import { WebhooksPage } from './pages/webhooks-page.js';
import { href, useRoute } from './router.js';
import type { SessionInfo } from './types.js';

const PAGES = [
  { path: 'calls', label: 'Calls' },
  { path: 'dial', label: 'Make a call' },
  { path: 'webhooks', label: 'Webhooks' },
  { path: 'health', label: 'Health' },
] as const;

function Console() {
  const [session, setSession] = useState<SessionInfo | null>();
  const route = useRoute();
  useEffect(() => {
    loadSession().then(
      (s) => (s ? setSession(s) : location.assign('/console')),
      () => setSession(null),
    );
  }, []);
  if (session === undefined) return <p class="boot">Loading the console…</p>;
  if (session === null) return <p class="error">The server did not answer. Reload to try again.</p>;
  const [page = 'calls', id] = route;
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">voxline</span>
        <nav aria-label="Console">
          <ul>
            {PAGES.filter((p) => p.path !== 'dial' || session.browserCalls).map((p) => (
              <li key={p.path}>
                <a href={href(p.path)} aria-current={page === p.path ? 'page' : undefined}>
                  {p.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="instance" title="The instance this page talks to">
          {session.instance}
        </span>
        <button type="button" class="sign-out" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {page === 'calls' && id ? <CallPage key={id} callSid={id} session={session} /> : null}
        {page === 'calls' && !id ? <CallsPage session={session} /> : null}
        {page === 'dial' && session.browserCalls ? <DialPage session={session} /> : null}
        {page === 'webhooks' ? <WebhooksPage /> : null}
        {page === 'health' ? <HealthPage /> : null}
        {PAGES.some((p) => p.path === page) ? null : (
          <p>
            No such page. <a href={href('calls')}>Calls</a>
          </p>
        )}
      </main>
    </>
  );
}

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(<Console />, root);
}
