/** The console's server-rendered pages: sign-in, and the pages that say why there is no console. */

export interface PageAssets {
  /** The stylesheet's URL, when the bundle is built. */
  readonly css?: string;
  readonly js?: string;
}

/** The signed-in app: an empty shell the bundle renders into. */
export function appPage(assets: Required<PageAssets>): string {
  return page(
    'voxline console',
    assets,
    `<div id="app"><p class="boot">Loading the console…</p></div>
<noscript><p class="notice">The console needs JavaScript. The HTTP API works without it: see docs/http-api.md.</p></noscript>
<script type="module" src="${attr(assets.js)}"></script>`,
  );
}

/** The sign-in form: the admin token goes in the POST body, never in a URL or in page script. */
export function signInPage(assets: PageAssets, error?: string): string {
  return page(
    'Sign in · voxline',
    assets,
    `<main class="sign-in">
<h1>voxline</h1>
<form method="post" action="/console/session">
<label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
${error ? `<p class="error" role="alert">${text(error)}</p>` : ''}
<button type="submit">Sign in</button>
</form>
<p class="hint">The token is the server's <code>ADMIN_TOKEN</code>.</p>
</main>`,
  );
}

/** ADMIN_TOKEN is not set: there is nothing to sign in with, and the console will not run open. */
export function unprotectedPage(assets: PageAssets): string {
  return page(
    'Set ADMIN_TOKEN · voxline',
    assets,
    `<main class="sign-in">
<h1>The console needs an admin token</h1>
<p>This server has no <code>ADMIN_TOKEN</code>, so the console is off (and <code>/v1</code> is open to anyone who can reach it).</p>
<p>Set one and restart, for example:</p>
<pre>ADMIN_TOKEN=$(openssl rand -hex 24) npm start</pre>
<p>then sign in here with that token.</p>
</main>`,
  );
}

/** The server runs from a checkout whose console bundle was never built. */
export function notBuiltPage(): string {
  return page(
    'Console not built · voxline',
    {},
    `<main class="sign-in">
<h1>The console is not built</h1>
<p>Build it with <code>npm run build</code> (which <code>npm start</code> runs for you), then reload.</p>
</main>`,
  );
}

function page(title: string, assets: PageAssets, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${text(title)}</title>
${assets.css ? `<link rel="stylesheet" href="${attr(assets.css)}">` : ''}
</head>
<body>
${body}
</body>
</html>
`;
}

function text(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function attr(value: string): string {
  return text(value).replace(/"/g, '&quot;');
}
