// The web admin UI as an administrator meets it, in a real headless Chromium (Debian's package)
// driven by playwright-core: the gateway, the IdP and the origin are real processes that
// e2e/ui/run.sh started. Every check prints one PASS or FAIL line; the run closes with
// "ui: N passed, M failed" and exits non-zero when anything failed.
//
// The checks read what a user reads (headings, table cells, the notice after a form) and click
// what a user clicks; nothing here talks to the gateway's admin API or database behind the
// browser's back, except the service-token request, which an automated client would make.
//
// Environment: TEAM (team URL), APP (application URL), IDP_URL, CLIENT_SECRET (the IdP clients'
// secret), CHROMIUM (executable), SHOTS (directory for the screenshots), E2E_DIR and ORIGIN2_PORT
// (where this script starts a second origin for the application it makes in the forms, once the
// application page shows its AUD tag).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import { chromium } from 'playwright-core';

const TEAM = mustEnv('TEAM');
const APP = mustEnv('APP');
const IDP_URL = mustEnv('IDP_URL');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = mustEnv('SHOTS');
const CLIENT_SECRET = mustEnv('CLIENT_SECRET');
const E2E_DIR = mustEnv('E2E_DIR');
const ORIGIN2_PORT = Number(mustEnv('ORIGIN2_PORT'));
/** The application made in the forms: same gateway port, another host. */
const WIKI = APP.replace('//whoami.localhost', '//wiki.localhost');
const DISCOVERY_URL = `${IDP_URL}/.well-known/openid-configuration`;

const ALICE = { login: 'alice', password: 'alice-password', email: 'alice@example.com' };
const BOB = { login: 'bob', password: 'bob-password', email: 'bob@example.org' };
const STEP_TIMEOUT = 15_000;

function mustEnv(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`ui: ${name} is required`);
    process.exit(2);
  }
  return v;
}

// --- counting -------------------------------------------------------------------------------

let passed = 0;
let failed = 0;
const failures = [];
let current = '';

function pass(name) {
  passed += 1;
  console.log(`  PASS ${current}${name}`);
}

function fail(name, detail) {
  failed += 1;
  failures.push(`${current}${name}`);
  console.log(`  FAIL ${current}${name}${detail ? ` — ${detail}` : ''}`);
}

/** One check: PASS when `ok` holds, otherwise FAIL with what was seen. */
function check(name, ok, detail) {
  if (ok) pass(name);
  else fail(name, detail);
  return Boolean(ok);
}

/** Like `check`, but a failure stops the scenario: later steps would only repeat it. */
function must(name, ok, detail) {
  if (!check(name, ok, detail)) throw new Stop();
}

class Stop extends Error {}

/** Runs one numbered scenario; an unexpected error (a timeout, a missing element) is one FAIL. */
async function scenario(title, body) {
  console.log(`== ${title}`);
  current = `${title.split('.')[0]}. `;
  try {
    await body();
  } catch (err) {
    if (!(err instanceof Stop)) fail('finished without an error', oneLine(err.message));
  }
  current = '';
}

const oneLine = (s) => String(s).split('\n').filter(Boolean).slice(0, 3).join(' | ').slice(0, 400);

// --- what the browser did -------------------------------------------------------------------

const allowedOrigins = new Set([new URL(TEAM).origin, new URL(APP).origin, new URL(WIKI).origin, new URL(IDP_URL).origin]);
const foreignRequests = [];
const consoleErrors = [];
/** Addresses that answer 400 on purpose just now: a form sent with a mistake to see it named. */
const expected400 = new Set();
/** Gateway pages the checks looked at: path → { h1, unlabelled, title, lang }. */
const audited = new Map();

/** Records every request of a browser context, and (when `watchConsole`) its console errors. */
function watch(context, watchConsole) {
  context.on('request', (req) => {
    const url = req.url();
    let origin = '';
    try {
      origin = new URL(url).origin;
    } catch {
      origin = url;
    }
    if (!allowedOrigins.has(origin)) foreignRequests.push(url);
  });
  if (!watchConsole) return;
  context.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    // Chromium asks every origin for /favicon.ico by itself; neither the gateway's pages nor the
    // IdP's link one, so the 404 says nothing about the pages.
    if (new URL(msg.location().url || 'about:blank').pathname === '/favicon.ico') return;
    // A form with a mistake is answered 400 with the form again, which Chromium reports.
    if (msg.text().includes('status of 400') && expected400.has(msg.location().url)) return;
    consoleErrors.push(`${msg.page()?.url() ?? '?'}: ${msg.text()} (${msg.location().url})`);
  });
  context.on('weberror', (e) => consoleErrors.push(`${e.page()?.url() ?? '?'}: ${e.error().message}`));
}

/** Looks at the gateway page now shown: its `<h1>`s, inputs without a label, title and lang. */
async function audit(page) {
  const url = new URL(page.url());
  if (url.origin !== new URL(TEAM).origin) return;
  const facts = await page.evaluate(() => ({
    h1: [...document.querySelectorAll('h1')].map((h) => h.textContent.trim()),
    unlabelled: [...document.querySelectorAll('input, select, textarea')]
      .filter((el) => !['hidden', 'submit', 'button', 'reset', 'image'].includes(el.type))
      .filter((el) => el.labels.length === 0 && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
      .map((el) => el.outerHTML.slice(0, 120)),
    title: document.title,
    lang: document.documentElement.lang,
  }));
  audited.set(url.pathname.length > 60 ? `${url.pathname.slice(0, 57)}...` : url.pathname, facts);
}

/** The text of the page's first `<h1>`. */
const heading = async (page) => (await page.locator('h1').first().textContent({ timeout: STEP_TIMEOUT }))?.trim();

/** Fills the e2e IdP's form the way a person does and sends it. */
async function signInAtIdp(page, who) {
  await page.getByRole('heading', { name: 'e2e IdP' }).waitFor({ timeout: STEP_TIMEOUT });
  await page.locator('input[name=login]').fill(who.login);
  await page.locator('input[name=password]').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** GET on the application as an automated client (node http; the gateway picks the app by Host). */
function appRequest(pathname, headers) {
  const app = new URL(APP);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: app.port,
      path: pathname,
      headers: { host: app.host, accept: 'application/json', ...headers },
      timeout: STEP_TIMEOUT,
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.end();
  });
}

const parse = (s) => {
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
};

/** The dashboard's cards as { label: number text }. */
async function dashboardCounts(page) {
  const cards = await page.locator('a.card').evaluateAll((els) => els.map((a) => ({
    n: a.querySelector('.n')?.textContent.trim() ?? '',
    label: a.textContent.replace(a.querySelector('.n')?.textContent ?? '', '').trim(),
  })));
  return Object.fromEntries(cards.map((c) => [c.label, c.n]));
}

/** Fills the login method form from the discovery URL (Fetch), then saves it. */
async function addLoginMethod(page, { name, clientId, secret, claims }) {
  await page.goto(`${TEAM}/admin/login-methods`);
  await page.getByRole('link', { name: 'Add a login method' }).click();
  await page.waitForURL(`${TEAM}/admin/login-methods/new`);
  await audit(page);
  await page.locator('#name').fill(name);
  await page.locator('#client_id').fill(clientId);
  await page.locator('#client_secret').fill(secret);
  await page.locator('#discovery_url').fill(DISCOVERY_URL);
  if (claims) await page.locator('#claims').fill(claims);
  await page.getByRole('button', { name: 'Fetch' }).click();
  await page.locator('#discovery-status').waitFor();
  await audit(page);
}

/** Runs the Test of the login method in `row` in a new window, signing in as alice at the IdP. */
async function runTest(row) {
  // Without the IdP's own session the test always shows the IdP's form.
  await context.clearCookies({ domain: new URL(IDP_URL).hostname });
  const [popup] = await Promise.all([
    context.waitForEvent('page'),
    row.getByRole('link', { name: /^Test/ }).click(),
  ]);
  await popup.waitForURL((u) => u.href.startsWith(`${IDP_URL}/interaction/`));
  await signInAtIdp(popup, ALICE);
  await popup.waitForURL((u) => u.href.startsWith(`${TEAM}/`), { waitUntil: 'load' });
  await popup.locator('h1').first().waitFor();
  await audit(popup);
  return popup;
}

/** Waits until a local HTTP server answers `url`. */
async function waitHttp(url) {
  for (let i = 0; i < 100; i += 1) {
    const ok = await new Promise((resolve) => {
      http.get(url, (res) => { res.resume(); resolve(res.statusCode === 200); }).on('error', () => resolve(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

// --- the scenarios --------------------------------------------------------------------------

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--no-sandbox', '--host-resolver-rules=MAP *.localhost 127.0.0.1'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
context.setDefaultTimeout(STEP_TIMEOUT);
watch(context, true);
const page = await context.newPage();
const shots = {};

await scenario('1. sign-in to /admin through the IdP and back to the dashboard', async () => {
  await page.goto(`${TEAM}/admin`);
  await page.waitForURL((u) => u.href.startsWith(`${IDP_URL}/interaction/`));
  pass('/admin without a session leads to the IdP login form');
  await signInAtIdp(page, ALICE);
  await page.waitForURL(`${TEAM}/admin`);
  pass('after the IdP form the browser is back on /admin');
  await audit(page);
  const h1 = await heading(page);
  must('heading "Dashboard"', h1 === 'Dashboard', `h1 "${h1}"`);
  const who = await page.locator('nav .who').textContent();
  check('the navigation names the signed-in administrator', who.includes(ALICE.email), who);
  const nav = await page.locator('nav.admin-nav a').allTextContents();
  check('navigation lists every section',
    ['Dashboard', 'Login methods', 'Applications', 'Policies', 'Rule groups', 'Service tokens', 'Users', 'Logs'].every((s) => nav.includes(s)),
    nav.join(', '));
  const counts = await dashboardCounts(page);
  const want = { 'Login methods': '1', Applications: '1', 'Rule groups': '0', 'Service tokens': '0', Users: '1', 'Seats in use': '1' };
  check(`counts ${JSON.stringify(want)}`, Object.entries(want).every(([k, v]) => counts[k] === v), JSON.stringify(counts));
});

let token = null;
await scenario('2. service token created in the form opens the app (Service Auth policy)', async () => {
  await page.goto(`${TEAM}/admin/service-tokens`);
  await audit(page);
  must('heading "Service tokens"', (await heading(page)) === 'Service tokens');
  check('no tokens yet', await page.getByText('No service tokens yet.').isVisible());
  await page.getByLabel('Name').fill('ui-ci');
  await page.getByLabel('Duration').fill('8760h');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.locator('#client-secret').waitFor();
  await audit(page);
  const h1 = await heading(page);
  check('result page names the token', h1.endsWith(': ui-ci'), `h1 "${h1}"`);
  const clientId = (await page.locator('#client-id').textContent()).trim();
  const clientSecret = (await page.locator('#client-secret').textContent()).trim();
  must('client id and secret shown', clientId.length > 8 && clientSecret.length > 16, `id "${clientId}"`);
  check('the page says the secret is shown once', (await page.locator('[role=status]').textContent()).includes('only once'));
  token = { clientId, clientSecret };

  const ok = await appRequest('/service', { 'CF-Access-Client-Id': clientId, 'CF-Access-Client-Secret': clientSecret });
  const body = parse(ok.body);
  check('app with CF-Access-Client-Id/-Secret -> 200', ok.status === 200, `${ok.status} ${ok.body.slice(0, 200)}`);
  check('origin verified a service token for that client id (common_name)',
    body?.verified === true && body.payload?.common_name === clientId, ok.body.slice(0, 300));
  const wrong = await appRequest('/service', { 'CF-Access-Client-Id': clientId, 'CF-Access-Client-Secret': `${clientSecret}x` });
  check('a wrong secret is refused', wrong.status === 401 || wrong.status === 403, `${wrong.status}`);
  const none = await appRequest('/service', {});
  check('no credentials -> 401', none.status === 401, `${none.status}`);

  await page.getByRole('link', { name: 'Back to service tokens' }).click();
  await page.waitForURL(`${TEAM}/admin/service-tokens`);
  await audit(page);
  const row = page.locator('tbody tr', { hasText: 'ui-ci' });
  check('the list shows the token, enabled, with its client id',
    (await row.count()) === 1 && (await row.textContent()).includes(clientId) && (await row.textContent()).includes('enabled'));
  check('the list does not show the secret again', !(await page.content()).includes(clientSecret));
});

await scenario('3. Test of the login method in a new window -> "Your connection works!"', async () => {
  await page.goto(`${TEAM}/admin/login-methods`);
  await audit(page);
  must('heading "Login methods"', (await heading(page)) === 'Login methods');
  const row = page.locator('tbody tr', { hasText: 'oidc-provider' });
  check('the method is listed with its type and client id',
    (await row.count()) === 1 && (await row.textContent()).includes('portcullis-rs256'), await row.textContent());
  // Without the IdP's own session the test shows the IdP's form, as it would to a person testing
  // a login method with another account.
  await context.clearCookies({ domain: new URL(IDP_URL).hostname });
  const [popup] = await Promise.all([
    context.waitForEvent('page'),
    row.getByRole('link', { name: /^Test/ }).click(),
  ]);
  check('Test opens a new window', popup !== page);
  await popup.waitForURL((u) => u.href.startsWith(`${IDP_URL}/interaction/`));
  pass('the new window runs the login flow to the IdP form');
  await signInAtIdp(popup, ALICE);
  // The gateway answers the IdP's redirect to its callback with the result page itself.
  await popup.waitForURL((u) => u.href.startsWith(`${TEAM}/`), { waitUntil: 'load' });
  await popup.locator('h1').first().waitFor();
  await audit(popup);
  const h1 = await heading(popup);
  must('heading "Your connection works!"', h1 === 'Your connection works!', `h1 "${h1}" at ${popup.url()}`);
  const identity = await popup.locator('pre').first().textContent();
  check('the identity shows the user\'s email', identity.includes(ALICE.email), oneLine(identity));
  check('the ID token claims are shown', (await popup.getByRole('heading', { name: 'ID token claims' }).count()) === 1);
  shots.test = path.join(SHOTS, 'test-result.png');
  await popup.screenshot({ path: shots.test, fullPage: true });
  await popup.close();
});

const NEW_IDP = { name: 'e2e ES256', clientId: 'portcullis-es256' };
await scenario('4. a login method added from its discovery URL (Fetch, then Save) passes Test', async () => {
  await addLoginMethod(page, { name: NEW_IDP.name, clientId: NEW_IDP.clientId, secret: CLIENT_SECRET, claims: 'employee_id, roles' });
  pass('Fetch answered with the form filled in');
  const issuer = await page.locator('#issuer').inputValue();
  check('Fetch filled in the issuer', issuer === IDP_URL, issuer);
  const endpoints = await Promise.all(['#auth_url', '#token_url', '#certs_url'].map((id) => page.locator(id).inputValue()));
  check('Fetch filled in the three endpoints', endpoints.every((e) => e.startsWith(IDP_URL)), endpoints.join(' '));
  check('Fetch suggested scopes with openid', (await page.locator('#scopes').inputValue()).split(' ').includes('openid'));
  check('what was typed is kept (name, client id, secret, claims)',
    (await page.locator('#name').inputValue()) === NEW_IDP.name
      && (await page.locator('#client_id').inputValue()) === NEW_IDP.clientId
      && (await page.locator('#client_secret').inputValue()) === CLIENT_SECRET
      && (await page.locator('#claims').inputValue()) === 'employee_id, roles');
  shots.loginMethodForm = path.join(SHOTS, 'login-method-form.png');
  await page.screenshot({ path: shots.loginMethodForm, fullPage: true });
  await page.getByRole('button', { name: 'Save' }).click();
  await page.waitForURL((u) => u.pathname === '/admin/login-methods' && u.searchParams.get('done') === 'created');
  await audit(page);
  check('the list says the login method was added', (await page.locator('[role=status]').textContent()).includes('was added'));
  const row = page.locator('tbody tr', { hasText: NEW_IDP.name });
  must('the new method is listed, from the admin, with Edit and Delete',
    (await row.count()) === 1 && (await row.textContent()).includes('admin')
      && (await row.getByRole('link', { name: `Edit ${NEW_IDP.name}` }).count()) === 1
      && (await row.getByRole('button', { name: `Delete ${NEW_IDP.name}` }).count()) === 1,
    await row.textContent());
  const fileRow = page.locator('tbody tr', { hasText: 'oidc-provider' });
  check('the configuration file\'s method has no Edit or Delete',
    (await fileRow.getByRole('button', { name: /^Delete/ }).count()) === 0 && (await fileRow.textContent()).includes('configuration file'));
  shots.loginMethods = path.join(SHOTS, 'login-methods.png');
  await page.screenshot({ path: shots.loginMethods, fullPage: true });

  const popup = await runTest(row);
  const h1 = await heading(popup);
  must('Test of the new method: "Your connection works!"', h1 === 'Your connection works!', `h1 "${h1}" at ${popup.url()}`);
  const identity = await popup.locator('pre').first().textContent();
  const parsed = parse(identity);
  check('the identity has the email and the extra claims in oidc_fields',
    parsed?.email === ALICE.email && parsed?.oidc_fields?.employee_id !== undefined && Array.isArray(parsed?.oidc_fields?.roles),
    oneLine(identity));
  await popup.close();
});

await scenario('5. a login method with a wrong client secret: Test names the failed step, then Delete asks first', async () => {
  const name = 'e2e wrong secret';
  await addLoginMethod(page, { name, clientId: 'portcullis-rs256', secret: 'not-the-client-secret' });
  await page.getByRole('button', { name: 'Save' }).click();
  await page.waitForURL((u) => u.pathname === '/admin/login-methods' && u.searchParams.get('done') === 'created');
  const row = page.locator('tbody tr', { hasText: name });
  must('the method is listed', (await row.count()) === 1);
  const popup = await runTest(row);
  const h1 = await heading(popup);
  check('Test says the test failed', h1 === `The test of ${name} failed`, `h1 "${h1}"`);
  const body = await popup.locator('main').textContent();
  check('the failed step is the token exchange', body.includes('Failed step: token exchange'), oneLine(body));
  check('the diagnosis names the refusal of the client (invalid_client)', body.includes('invalid_client'), oneLine(body));
  check('the diagnosis says what to check', body.includes('The IdP refused the client credentials'), oneLine(body));
  shots.testWrongSecret = path.join(SHOTS, 'test-wrong-secret.png');
  await popup.screenshot({ path: shots.testWrongSecret, fullPage: true });
  await popup.close();

  await row.getByRole('button', { name: `Delete ${name}` }).click();
  await page.waitForURL((u) => u.pathname.endsWith('/delete'));
  await audit(page);
  const question = await heading(page);
  check('Delete shows a confirmation first', question === `Delete the login method “${name}”?`, question);
  await page.getByRole('button', { name: 'Delete the login method' }).click();
  await page.waitForURL((u) => u.pathname === '/admin/login-methods' && u.searchParams.get('done') === 'deleted');
  check('after confirming, the method is gone', (await page.locator('tbody tr', { hasText: name }).count()) === 0);
});

let origin2 = null;
await scenario('6. a reusable policy and an application made in the forms; a user signs in to it', async () => {
  await page.goto(`${TEAM}/admin/policies`);
  await page.getByRole('link', { name: 'Add a reusable policy' }).click();
  await page.waitForURL(`${TEAM}/admin/policies/new`);
  await audit(page);
  must('heading "Add a reusable policy"', (await heading(page)) === 'Add a reusable policy');
  await page.locator('#name').fill('e2e staff');
  await page.locator('#decision').selectOption('allow');
  await page.locator('#include_groups').fill('staff');
  await page.locator('#include_emails').fill('not-an-email');
  expected400.add(`${TEAM}/admin/policies/new`);
  await page.getByRole('button', { name: 'Save' }).click();
  await page.locator('#include_emails-error').waitFor();
  expected400.delete(`${TEAM}/admin/policies/new`);
  await audit(page);
  check('a bad email is named next to its field',
    (await page.locator('#include_emails-error').textContent()).includes('`not-an-email`'));
  check('what was typed is kept', (await page.locator('#include_groups').inputValue()) === 'staff'
    && (await page.locator('#name').inputValue()) === 'e2e staff');
  shots.policyFormError = path.join(SHOTS, 'policy-form-error.png');
  await page.screenshot({ path: shots.policyFormError, fullPage: true });
  await page.locator('#include_emails').fill('');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.waitForURL((u) => u.pathname === '/admin/policies' && u.searchParams.get('done') === 'created');
  await audit(page);
  const policyRow = page.locator('tbody tr', { hasText: 'e2e staff' });
  check('the policy is listed with its rule', (await policyRow.count()) === 1 && (await policyRow.textContent()).includes('oidc groups=staff'),
    await policyRow.textContent());
  shots.policies = path.join(SHOTS, 'policies.png');
  await page.screenshot({ path: shots.policies, fullPage: true });

  await page.goto(`${TEAM}/admin/apps`);
  await page.getByRole('link', { name: 'Add an application' }).click();
  await page.waitForURL(`${TEAM}/admin/apps/new`);
  await audit(page);
  must('heading "Add an application"', (await heading(page)) === 'Add an application');
  await page.locator('#name').fill('e2e wiki');
  await page.locator('#domain').fill(new URL(WIKI).hostname);
  await page.locator('#origin').fill(`http://127.0.0.1:${ORIGIN2_PORT}`);
  await page.getByLabel(NEW_IDP.name, { exact: true }).check();
  await page.locator('#auto_redirect_to_identity').check();
  await page.getByLabel('e2e staff', { exact: true }).check();
  await page.getByLabel('Precedence of e2e staff').fill('1');
  shots.appForm = path.join(SHOTS, 'app-form.png');
  await page.screenshot({ path: shots.appForm, fullPage: true });
  await page.getByRole('button', { name: 'Save' }).click();
  await page.waitForURL((u) => /^\/admin\/apps\/[0-9a-f-]{36}$/.test(u.pathname) && u.searchParams.get('done') === 'created');
  await audit(page);
  must('the application page is shown', (await heading(page)) === 'e2e wiki');
  const aud = (await page.locator('dd code').first().textContent()).trim();
  must('with its AUD tag', /^[0-9a-f]{64}$/.test(aud), aud);
  check('it lists the policy and the login method',
    (await page.locator('main').textContent()).includes('e2e staff') && (await page.locator('main').textContent()).includes(NEW_IDP.name));
  shots.app = path.join(SHOTS, 'app.png');
  await page.screenshot({ path: shots.app, fullPage: true });

  // The origin of the new application checks tokens against the AUD the page shows.
  origin2 = spawn(process.execPath, ['--import', path.join(E2E_DIR, 'lib/localhost-resolver.mjs'), path.join(E2E_DIR, 'origin.mjs')], {
    env: { ...process.env, TEAM_DOMAIN: TEAM, POLICY_AUD: aud, PORT: String(ORIGIN2_PORT) },
    stdio: 'ignore',
  });
  must('the second origin started', await waitHttp(`http://127.0.0.1:${ORIGIN2_PORT}/__e2e/stats`));

  const user = await browser.newContext();
  user.setDefaultTimeout(STEP_TIMEOUT);
  watch(user, false);
  const userPage = await user.newPage();
  await userPage.goto(`${WIKI}/from-the-form`);
  await userPage.waitForURL((u) => u.href.startsWith(`${IDP_URL}/interaction/`));
  pass('the application sends the user straight to the IdP (one login method, auto-redirect)');
  await signInAtIdp(userPage, ALICE);
  await userPage.waitForURL((u) => u.href.startsWith(WIKI));
  const body = parse(await userPage.locator('body').textContent());
  check('the user reaches the new application; its origin verified the token for that AUD',
    body?.verified === true && body.payload?.email === ALICE.email && [body.payload?.aud].flat().includes(aud),
    oneLine(JSON.stringify(body)));
  await user.close();

  const outsider = await browser.newContext();
  outsider.setDefaultTimeout(STEP_TIMEOUT);
  watch(outsider, false);
  const bobPage = await outsider.newPage();
  await bobPage.goto(`${WIKI}/`);
  await signInAtIdp(bobPage, BOB);
  await bobPage.getByText('That account does not have access').waitFor();
  pass('someone outside the IdP group "staff" is refused');
  await outsider.close();
});

await scenario('7. policy tester: the user is allowed, an outsider refused with an explanation', async () => {
  await page.goto(`${TEAM}/admin/policies`);
  await audit(page);
  must('heading "Policies"', (await heading(page)) === 'Policies');
  const tester = page.locator('form[aria-labelledby=tester]');
  await tester.getByLabel('Application').selectOption({ label: 'whoami' });
  await tester.getByLabel('Email').fill(ALICE.email);
  await tester.getByRole('button', { name: 'Test' }).click();
  await page.locator('#decision').waitFor();
  await audit(page);
  let decision = (await page.locator('#decision').textContent()).trim();
  check(`${ALICE.email} -> Allowed`, decision.startsWith('Allowed'), decision);
  check('the tester kept the chosen application', (await tester.getByLabel('Application').inputValue()) !== '');

  await tester.getByLabel('Email').fill(BOB.email);
  await tester.getByRole('button', { name: 'Test' }).click();
  await page.waitForURL((u) => u.searchParams.get('email') === BOB.email);
  await page.locator('#decision').waitFor();
  await audit(page);
  decision = (await page.locator('#decision').textContent()).trim();
  check(`${BOB.email} -> Refused`, decision.startsWith('Refused'), decision);
  const explanation = (await page.locator('section[aria-label=Result] pre').textContent()).trim();
  check('the refusal comes with an explanation', explanation.length > 10, explanation);
  console.log(`       explanation: ${oneLine(explanation)}`);
});

await scenario('8. users page lists the user with a seat; logs list the sign-ins', async () => {
  // The application in the same browser: single sign-on through the team session.
  await page.goto(`${APP}/ui/from-browser`);
  const appBody = parse(await page.locator('body').textContent());
  check('the browser reaches the app as the user (origin verified the token)',
    appBody?.verified === true && appBody.payload?.email === ALICE.email, page.url());
  // An outsider in a browser of their own: refused at the app, which the log must show.
  const outsider = await browser.newContext();
  outsider.setDefaultTimeout(STEP_TIMEOUT);
  watch(outsider, false);
  const bobPage = await outsider.newPage();
  await bobPage.goto(`${APP}/`);
  // whoami allows every login method: since scenario 4 there are two, so the login page asks.
  await bobPage.getByRole('link', { name: 'Sign in with oidc-provider' }).click();
  pass('the application\'s login page offers the login methods; the user picks one');
  await signInAtIdp(bobPage, BOB);
  await bobPage.getByText('That account does not have access').waitFor();
  pass('the outsider signs in at the IdP and gets the block page');
  await outsider.close();

  await page.goto(`${TEAM}/admin/users`);
  await audit(page);
  must('heading "Users"', (await heading(page)) === 'Users');
  const row = page.locator('tbody tr', { hasText: ALICE.email });
  must('the user is listed', (await row.count()) === 1);
  const cells = await row.locator('td').allTextContents();
  check('with a seat', cells[2]?.trim() === 'yes', cells.join(' | '));
  check('with a last sign-in time', (cells[3] ?? '').trim().length > 0, cells.join(' | '));
  await row.getByRole('link', { name: ALICE.email }).click();
  await page.waitForURL((u) => u.pathname.startsWith('/admin/users/'));
  await audit(page);
  check('the user page is headed with the email', (await heading(page)) === ALICE.email);
  check('it lists an active session', (await page.locator('form[action*="/sessions/"]').count()) >= 1);

  await page.goto(`${TEAM}/admin/logs`);
  await audit(page);
  must('heading "Authentication log"', (await heading(page)) === 'Authentication log');
  const entries = await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => [...r.cells].map((c) => c.textContent.trim())));
  check('the log lists the user\'s sign-in to whoami, allowed',
    entries.some((e) => e[1] === ALICE.email && e[2] === 'whoami' && e[3] === 'allowed'), JSON.stringify(entries));
  check('the log lists the outsider\'s refused sign-in',
    entries.some((e) => e[1] === BOB.email && e[3] === 'refused'), JSON.stringify(entries));
  await page.getByLabel('Outcome').selectOption('false');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL((u) => u.searchParams.get('allowed') === 'false');
  await audit(page);
  const refused = await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.cells[3].textContent.trim()));
  check('filtering by outcome shows only refusals', refused.length >= 1 && refused.every((o) => o === 'refused'), JSON.stringify(refused));
});

await scenario('9. accessibility smoke: <h1>, labels, no console errors, no outside requests', async () => {
  // Every section of the navigation, and the pages one click further.
  for (const name of ['Dashboard', 'Login methods', 'Applications', 'Policies', 'Rule groups', 'Service tokens', 'Users', 'Logs']) {
    await page.locator('nav.admin-nav').getByRole('link', { name, exact: true }).click();
    await page.waitForLoadState('load');
    await audit(page);
  }
  await page.goto(`${TEAM}/admin/apps`);
  await page.locator('main table a', { hasText: 'whoami' }).first().click();
  await page.waitForURL((u) => u.pathname.startsWith('/admin/apps/'));
  await audit(page);
  // The forms, and the edit form of the application made in them.
  for (const p of ['/admin/login-methods/new', '/admin/policies/new', '/admin/rule-groups/new', '/admin/apps/new']) {
    await page.goto(`${TEAM}${p}`);
    await audit(page);
  }
  await page.goto(`${TEAM}/admin/apps`);
  await page.locator('main table a', { hasText: 'e2e wiki' }).first().click();
  await page.getByRole('link', { name: 'Edit this application' }).click();
  await page.waitForURL((u) => u.pathname.endsWith('/edit'));
  await audit(page);
  check('the edit form shows the saved values',
    (await page.locator('#origin').inputValue()) === `http://127.0.0.1:${ORIGIN2_PORT}`
      && (await page.getByLabel('e2e staff', { exact: true }).isChecked())
      && (await page.getByLabel('Precedence of e2e staff').inputValue()) === '1');
  await page.goto(`${TEAM}/admin/logs`);
  await page.getByRole('link', { name: /SCIM provisioning log/ }).click();
  await page.waitForURL(`${TEAM}/admin/logs/scim`);
  await audit(page);

  const noH1 = [...audited].filter(([, f]) => f.h1.length !== 1).map(([p, f]) => `${p} (${f.h1.length})`);
  check(`each of the ${audited.size} gateway pages visited has one <h1>`, noH1.length === 0, noH1.join(', '));
  const unlabelled = [...audited].filter(([, f]) => f.unlabelled.length > 0).map(([p, f]) => `${p}: ${f.unlabelled.join(' ')}`);
  check('every form input has a label', unlabelled.length === 0, unlabelled.join(' | '));
  const untitled = [...audited].filter(([, f]) => !f.title || !f.lang).map(([p]) => p);
  check('every page has a <title> and <html lang>', untitled.length === 0, untitled.join(', '));
  check('no console errors', consoleErrors.length === 0, consoleErrors.slice(0, 5).join(' | '));
  check(`no request to a host other than ${[...allowedOrigins].join(', ')}`, foreignRequests.length === 0,
    foreignRequests.slice(0, 5).join(', '));
  console.log(`       pages audited: ${[...audited.keys()].join(' ')}`);
});

await scenario('10. screenshots of the dashboard, the forms and the Test results', async () => {
  await page.goto(`${TEAM}/admin`);
  const counts = await dashboardCounts(page);
  check('the dashboard now counts the service token', counts['Service tokens'] === '1', JSON.stringify(counts));
  shots.dashboard = path.join(SHOTS, 'dashboard.png');
  await page.screenshot({ path: shots.dashboard, fullPage: true });
  for (const [name, file] of Object.entries(shots)) {
    const png = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
    const isPng = png.length > 1000 && png.subarray(1, 4).toString() === 'PNG';
    if (check(`${name} screenshot written`, isPng, file)) console.log(`       ${name}: ${file}`);
  }
  const expected = ['dashboard', 'test', 'loginMethodForm', 'loginMethods', 'testWrongSecret', 'policyFormError', 'policies', 'appForm', 'app'];
  check('every screenshot taken', expected.every((k) => shots[k]), expected.filter((k) => !shots[k]).join(', '));
});

await browser.close();
if (origin2) origin2.kill('SIGTERM');

if (failed > 0) {
  console.log('failed checks:');
  for (const f of failures) console.log(`  - ${f}`);
}
console.log(`ui: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
