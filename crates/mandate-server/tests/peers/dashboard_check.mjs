// Drives the dashboard in headless Chromium (Debian `chromium`, via playwright-core) for the
// dashboard test: sign in (password, then second factor) from an approve link, check that
// viewing changes nothing, approve with a click, watch the overview receive a new request and
// its activity live, then grant a permission request with an edited policy. Reads one JSON argument, prints
// one JSON line of what it saw.
import { chromium } from 'playwright-core';

const input = JSON.parse(process.argv[2]);
const out = {};
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  // Script errors; a 401 while signed out is the page asking, not a fault.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().includes('status of 401')) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));

  // 1. The approve link of a notification, not signed in: a sign-in form.
  await page.goto(input.base + input.reviewPath + '?intent=approve');
  await page.waitForSelector('#signin');
  await page.fill('#email', input.email);
  await page.fill('#password', input.password);
  await page.click('#signin button[type=submit]');
  // The account has a second factor: the page asks for a code (a backup code here).
  await page.waitForSelector('#mfa');
  out.askedSecondFactor = true;
  await page.fill('#code', input.secondFactor);
  await page.click('#mfa button[type=submit]');
  await page.waitForSelector('#review #state');
  out.stateShown = await page.textContent('#state');
  out.previewText = await page.textContent('#review pre');
  out.previewElements = await page.$$eval('#review pre *', (n) => n.length);
  out.requestShown = await page.textContent('#review dl');
  out.intentShown = await page.textContent('#intent');
  // Viewing (and reloading) changed nothing.
  await page.reload();
  await page.waitForSelector('#review #state');
  const seen = await page.request.get(input.base + '/v1/approvals/' + input.approvalId);
  out.stateAfterViewing = (await seen.json()).state;

  // 2. The click decides.
  await page.fill('#reason', 'looked fine');
  await page.click('#approve');
  await page.waitForFunction(() => document.querySelector('#state')?.textContent === 'approved');
  out.stateAfterClick = await page.textContent('#state');

  // 3. The overview, live: a request made now appears without a reload.
  await page.goto(input.base + '/approvals');
  await page.waitForSelector('body[data-live=ready]');
  const asked = await fetch(input.base + '/v1/vault/execute', {
    method: 'POST',
    headers: { authorization: 'Bearer ' + input.agentToken, 'content-type': 'application/json' },
    body: JSON.stringify(input.secondRequest),
  });
  const second = await asked.json();
  out.secondStatus = asked.status;
  out.secondId = second.approvalRequestId;
  await page.waitForSelector(`#approvals [data-approval="${second.approvalRequestId}"]`, { timeout: 10000 });
  out.liveAppeared = true;
  // Its decision record reaches the activity list live too.
  await page.waitForFunction(() => [...document.querySelectorAll('#activity .record')]
    .some((n) => n.textContent.includes('approval_required')), null, { timeout: 10000 });
  out.activityShown = true;

  // 4. A permission request appears live; the person edits the template's policy and grants.
  const requested = await fetch(input.base + '/v1/agent-permission-requests', {
    method: 'POST',
    headers: { authorization: 'Bearer ' + input.agentToken, 'content-type': 'application/json' },
    body: JSON.stringify({ actionTemplateId: 'generic-read', reason: 'to read reports' }),
  });
  const request = await requested.json();
  out.requestStatus = requested.status;
  const item = `#permission-requests [data-request="${request.id}"]`;
  await page.waitForSelector(item, { timeout: 10000 });
  out.templateShown = await page.inputValue(item + ' textarea.document');
  await page.selectOption(item + ' select.connection', input.grantConnection);
  await page.fill(item + ' textarea.document', JSON.stringify(input.grantDocument));
  await page.click(item + ' button.grant');
  await page.waitForSelector(item, { state: 'detached', timeout: 10000 });
  out.requestId = request.id;
  out.problems = problems;
} catch (e) {
  out.failure = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
