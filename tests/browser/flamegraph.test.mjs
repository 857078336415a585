// flamegraph.test.mjs - drives the SVG flame graph in headless Chromium.
//
//   node flamegraph.test.mjs DEMO.svg XSS.svg [BIG.svg [REPORT.svg [DIFF.svg]]]
//
// DEMO.svg is the fixture from fixtures.c (total weight 1,000 with known
// shares), XSS.svg the one made of hostile names, BIG.svg the 100,000-frame
// one (only timed and smoke-tested), REPORT.svg what `spyglass report` draws
// from a cProfile dump of the example Flask app (examples/app.py), DIFF.svg
// what `spyglass report --diff` draws from two dumps of
// tests/targets/diff_target.py (CPU time moved from parse() to render()).
// Screenshots go to $SCREENSHOT_DIR
// (default /tmp). Chromium comes from $CHROMIUM (default /usr/bin/chromium).
// Prints one line per check and "N passed, N failed"; exits 1 on failure.

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [demoSvg, xssSvg, bigSvg, reportSvg, diffSvg] = process.argv.slice(2);
if (!demoSvg || !xssSvg) {
  console.error('usage: node flamegraph.test.mjs DEMO.svg XSS.svg [BIG.svg [REPORT.svg [DIFF.svg]]]');
  process.exit(2);
}
const shotDir = process.env.SCREENSHOT_DIR || '/tmp';
const LEFT = 10;
const WIDTH = 1180;

let passed = 0;
let failed = 0;

async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${err.message}`);
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

function near(actual, expected, what, tolerance = 0.05) {
  assert(Math.abs(actual - expected) <= tolerance, `${what}: ${actual}, expected ${expected}`);
}

// Records anything that looks like injected script running: dialogs and a
// flag the hostile fixture's payloads would set.
const HOOKS = `
  window.__xss = 0;
  window.alert = function () { window.__xss = 'alert'; };
  window.confirm = function () { window.__xss = 'confirm'; return false; };
`;

// The state of the frame whose label is `name` or starts with `name (`.
async function frame(page, name) {
  return page.evaluate((wanted) => {
    const all = Array.from(document.querySelectorAll('#frames g.f'));
    for (let i = 0; i < all.length; i++) {
      const g = all[i];
      const label = g.querySelector('title').textContent.split('\n')[0];
      if (label !== wanted && !label.startsWith(wanted + ' (')) continue;
      const rect = g.querySelector('rect');
      return {
        index: i,
        label,
        x: Number(rect.getAttribute('x')),
        w: Number(rect.getAttribute('width')),
        hidden: g.classList.contains('hide') || getComputedStyle(g).display === 'none',
        ancestor: g.classList.contains('anc'),
        match: g.classList.contains('match'),
        fill: getComputedStyle(rect).fill,
        text: g.querySelector('text').textContent,
      };
    }
    return null;
  }, name);
}

async function rectOf(page, name) {
  const f = await frame(page, name);
  assert(f, `no frame ${name}`);
  return page.locator('#frames g.f').nth(f.index).locator('rect');
}

const text = (page, sel) => page.locator(sel).evaluate((e) => e.textContent);

// Opens svg in a new page. Prompts are answered from the `answers` queue;
// any other dialog is dismissed and recorded in `dialogs`.
async function openPage(context, svg) {
  const page = await context.newPage();
  const errors = [];
  const answers = [];
  const dialogs = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('dialog', (d) => {
    if (d.type() === 'prompt' && answers.length) return d.accept(answers.shift());
    dialogs.push(`${d.type()}: ${d.message()}`);
    return d.dismiss();
  });
  await page.addInitScript(HOOKS);
  await page.goto(pathToFileURL(path.resolve(svg)).href);
  return { page, errors, answers, dialogs };
}

// Back to the initial view, whatever an earlier (maybe failed) check left.
async function fresh(page) {
  await page.mouse.move(1, 1);
  await page.evaluate(() => {
    if (window.clearSearch) window.clearSearch();
    if (window.resetZoom) window.resetZoom();
  });
}

async function demoChecks(context) {
  const { page, errors, answers, dialogs } = await openPage(context, demoSvg);
  const MATCH = 'rgb(230, 0, 230)';

  await check('demo: loads with no script errors and states what it shows', async () => {
    assert(errors.length === 0, `errors: ${errors.join('; ')}`);
    const broken = await page.evaluate(() => document.getElementsByTagName('parsererror').length);
    assert(broken === 0, 'the SVG is not well-formed XML');
    assert((await text(page, '#title')).includes('spyglass record'), 'title');
    const sub = await text(page, '#subtitle');
    for (const part of ['pid 4242', 'Python 3.11.7', '100 Hz', '1,000 samples', '2 errors'])
      assert(sub.includes(part), `subtitle lacks ${part}: ${sub}`);
    assert((await page.locator('#frames g.f').count()) >= 12, 'frames drawn');
  });

  await check('demo: layout has the root at the bottom and widths by weight', async () => {
    const root = await frame(page, 'all');
    const handle = await frame(page, 'handle_request');
    near(root.x, LEFT, 'root x');
    near(root.w, WIDTH, 'root width');
    near(handle.w, 0.65 * WIDTH, 'handle_request width');
    const rootY = await page.evaluate(() =>
      Number(document.querySelector('#frames g.f rect').getAttribute('y')));
    const leafY = Number(await (await rectOf(page, 'JSONEncoder.encode')).getAttribute('y'));
    assert(leafY < rootY, 'leaves are above the root');
  });

  await fresh(page);
  await check('demo: hover shows name, samples and share in the details line', async () => {
    await (await rectOf(page, 'query_db')).hover();
    const details = await text(page, '#details');
    assert(details.includes('query_db'), `details: ${details}`);
    assert(details.includes('app.py:30'), `details lacks file:line: ${details}`);
    assert(details.includes('350 samples'), `details lacks samples: ${details}`);
    assert(details.includes('35.00%'), `details lacks share: ${details}`);
    await page.mouse.move(5, 5);
    assert(!(await text(page, '#details')).includes('query_db'), 'details cleared on leave');
  });

  await fresh(page);
  await check('demo: click zooms, ancestors full width, siblings hidden', async () => {
    await (await rectOf(page, 'handle_request')).click();
    const h = await frame(page, 'handle_request');
    near(h.x, LEFT, 'zoomed x');
    near(h.w, WIDTH, 'zoomed width');
    for (const name of ['all', 'process 4242 python app.py', 'main']) {
      const a = await frame(page, name);
      assert(!a.hidden && a.ancestor, `${name} shown as ancestor`);
      near(a.w, WIDTH, `${name} width`);
    }
    for (const name of ['thread 0x7f02 "worker-1"', 'worker_loop', 'compute'])
      assert((await frame(page, name)).hidden, `${name} hidden`);
    const q = await frame(page, 'query_db');
    assert(!q.hidden, 'child visible');
    near(q.w, (350 / 650) * WIDTH, 'child width scaled');
    assert(q.text.startsWith('query_db'), `child label refitted: ${q.text}`);
    const resetOff = await page.locator('#reset').evaluate((e) => e.classList.contains('off'));
    assert(!resetOff, 'reset button enabled');
    await page.screenshot({ path: `${shotDir}/flamegraph-demo-zoom.png` });
  });

  await check('demo: Reset zoom restores the full view', async () => {
    await page.locator('#reset').click();
    const h = await frame(page, 'handle_request');
    near(h.w, 0.65 * WIDTH, 'width after reset');
    const w = await frame(page, 'thread 0x7f02 "worker-1"');
    assert(!w.hidden, 'sibling visible again');
    near(w.x, LEFT + 0.65 * WIDTH, 'sibling x');
    assert(!(await frame(page, 'all')).ancestor, 'root not dimmed');
  });

  await fresh(page);
  await check('demo: search() highlights matches and counts nested ones once', async () => {
    const share = await page.evaluate(() => window.search('query_db|execute'));
    near(share, 35, 'returned share', 1e-9);
    assert((await text(page, '#matched')) === 'Matched: 35.0%', 'matched line');
    for (const name of ['query_db', 'Connection.execute']) {
      const f = await frame(page, name);
      assert(f.match && f.fill === MATCH, `${name} highlighted (${f.fill})`);
    }
    const other = await frame(page, 'fetch_rows');
    assert(!other.match && other.fill !== MATCH, 'non-match not highlighted');
    near(await page.evaluate(() => window.search('encode|query_db')), 65, 'disjoint sum', 1e-9);
    near(await page.evaluate(() => window.search('^thread')), 100, 'both threads', 1e-9);
    near(await page.evaluate(() => window.search('^<idle>$')), 20, 'idle', 1e-9);
    assert((await text(page, '#matched')) === 'Matched: 20.0%', 'matched line updated');
    await page.evaluate(() => window.clearSearch());
    assert((await text(page, '#matched')) === '', 'matched cleared');
    assert((await page.locator('#frames g.match').count()) === 0, 'highlights cleared');
  });

  await check('demo: an invalid regular expression is reported, not thrown', async () => {
    const r = await page.evaluate(() => window.search('(['));
    assert(r === null, 'returns null');
    assert((await text(page, '#details')).includes('Invalid regular expression'), 'message');
  });

  await fresh(page);
  await check('demo: the Search button prompts for a regex', async () => {
    answers.push('render');
    await page.locator('#search').click();
    assert((await text(page, '#matched')) === 'Matched: 30.0%', 'matched after prompt');
    assert((await text(page, '#search')).includes('Clear search'), 'button offers to clear');
    assert((await frame(page, 'render')).match, 'render highlighted');
    await page.screenshot({ path: `${shotDir}/flamegraph-demo-search.png` });
    await page.locator('#search').click();
    assert((await text(page, '#matched')) === '', 'cleared by second click');
  });

  await fresh(page);
  await check('demo: Ctrl-F prompts for a search', async () => {
    answers.push('compute');
    await page.keyboard.press('Control+f');
    assert((await text(page, '#matched')) === 'Matched: 15.0%', 'matched after Ctrl-F');
    await page.keyboard.press('Escape');
    assert((await text(page, '#matched')) === '', 'Escape clears the search');
  });

  await fresh(page);
  await check('demo: zoomed search keeps shares of the whole profile', async () => {
    await (await rectOf(page, 'worker_loop')).click();
    const share = await page.evaluate(() => window.search('compute'));
    near(share, 15, 'share while zoomed', 1e-9);
    const c = await frame(page, 'compute');
    near(c.w, (150 / 350) * WIDTH, 'compute width in zoom');
    await page.evaluate(() => { window.clearSearch(); window.resetZoom(); });
  });

  await check('demo: no script errors during the session', async () => {
    assert(errors.length === 0, `errors: ${errors.join('; ')}`);
    assert((await page.evaluate(() => window.__xss)) === 0, 'alert or confirm called');
    assert(dialogs.length === 0, `unexpected dialogs: ${dialogs.join('; ')}`);
    assert(answers.length === 0, 'a prompt that should have opened did not');
  });

  await page.screenshot({ path: `${shotDir}/flamegraph-demo.png` });
  await page.close();
}

async function xssChecks(context) {
  const { page, errors, dialogs } = await openPage(context, xssSvg);

  await check('xss: hostile names render as text and run no script', async () => {
    assert(errors.length === 0, `errors: ${errors.join('; ')}`);
    const broken = await page.evaluate(() => document.getElementsByTagName('parsererror').length);
    assert(broken === 0, 'the SVG is not well-formed XML');
    assert((await page.evaluate(() => window.__xss)) === 0, 'a payload ran');
    assert(dialogs.length === 0, `dialogs: ${dialogs.join('; ')}`);
    const scripts = await page.evaluate(() => document.getElementsByTagName('script').length);
    assert(scripts === 1, `${scripts} script elements`);
    const bad = await page.evaluate(() => {
      const found = [];
      for (const el of document.querySelectorAll('*')) {
        if (/^(img|foreignObject|a|b|iframe|svg)$/.test(el.localName) && el !== document.documentElement)
          found.push(el.localName);
        for (const attr of el.getAttributeNames())
          if (/^on/i.test(attr) || /href/i.test(attr)) found.push(`${el.localName}@${attr}`);
      }
      return found;
    });
    assert(bad.length === 0, `injected elements or attributes: ${bad.join(', ')}`);
  });

  await check('xss: hostile names appear literally in titles and labels', async () => {
    const labels = await page.evaluate(() => Array.from(document.querySelectorAll('#frames g.f title'),
      (t) => t.textContent.split('\n')[0]));
    assert(labels.some((l) => l.startsWith('<script>window.__xss=1</script> (')), 'script name');
    assert(labels.some((l) => l.startsWith('"]]><script>')), 'CDATA end name');
    assert(labels.some((l) => l.startsWith('a&b<c>d"e\'f')), 'specials name');
    assert(labels.some((l) => l.startsWith('new\uFFFDline\uFFFD\uFFFD')), 'controls replaced');
    assert(labels.some((l) => l.startsWith('bad\uFFFD\uFFFD utf8 \uFFFD')), 'bad UTF-8 replaced');
    assert((await text(page, '#title')) === '<script>window.__xss=7</script>', 'title as text');
  });

  await check('xss: hovering, clicking and searching every frame runs no script', async () => {
    const count = await page.locator('#frames g.f').count();
    for (let i = 0; i < count; i++) {
      const rect = page.locator('#frames g.f').nth(i).locator('rect');
      await rect.hover();
      await rect.click();
      await page.evaluate(() => window.resetZoom());
    }
    await page.evaluate(() => window.search('<script>'));
    assert((await page.locator('#frames g.match').count()) >= 3, 'search finds the names');
    assert((await page.evaluate(() => window.__xss)) === 0, 'a payload ran');
    assert(dialogs.length === 0, `dialogs: ${dialogs.join('; ')}`);
    assert(errors.length === 0, `errors: ${errors.join('; ')}`);
  });

  await page.screenshot({ path: `${shotDir}/flamegraph-xss.png` });
  await page.close();
}

async function bigChecks(context) {
  const t0 = Date.now();
  const { page, errors } = await openPage(context, bigSvg);
  const loadMs = Date.now() - t0;
  await check('big: loads, zooms and searches', async () => {
    const n = await page.locator('#frames g.f').count();
    assert(n > 10000, `only ${n} frames drawn`);
    const t1 = Date.now();
    await (await rectOf(page, 'branch_123')).click();
    const zoomMs = Date.now() - t1;
    near((await frame(page, 'branch_123')).w, WIDTH, 'zoomed width');
    const t2 = Date.now();
    const share = await page.evaluate(() => window.search('^step_25 '));
    const searchMs = Date.now() - t2;
    near(share, 100, 'every path passes step_25', 1e-9);
    assert(errors.length === 0, `errors: ${errors.join('; ')}`);
    console.log(`     big: ${n} frames; load ${loadMs} ms, zoom ${zoomMs} ms, search ${searchMs} ms`);
  });
  await page.close();
}

async function reportChecks(context) {
  const { page, errors } = await openPage(context, reportSvg);
  await check('report: a cProfile dump drawn as a call tree, and says so', async () => {
    assert(errors.length === 0, `errors: ${errors.join('; ')}`);
    assert((await text(page, '#title')).includes('spyglass report'), 'title');
    assert((await text(page, '#subtitle')).includes('cProfile/pstats dump'), 'subtitle');
    const note = await text(page, '#note');
    assert(note.includes('split over its callees in proportion'), `note: ${note}`);
    assert((await page.locator('#frames g.f').count()) >= 20, 'frames drawn');
  });
  await fresh(page);
  await check('report: heavy_computation zooms and shows microseconds', async () => {
    await (await rectOf(page, 'slow_endpoint')).click();
    near((await frame(page, 'slow_endpoint')).w, WIDTH, 'zoomed width');
    const heavy = await frame(page, 'heavy_computation');
    assert(heavy && !heavy.hidden, 'heavy_computation shown under slow_endpoint');
    await (await rectOf(page, 'heavy_computation')).hover();
    const details = await text(page, '#details');
    assert(details.includes('microseconds'), `details: ${details}`);
    assert(errors.length === 0, `errors: ${errors.join('; ')}`);
    await page.screenshot({ path: `${shotDir}/flamegraph-report.png` });
  });
  await page.close();
}

// "rgb(r, g, b)" as numbers.
function rgbOf(fill) {
  const m = /rgb\((\d+), (\d+), (\d+)\)/.exec(fill);
  assert(m, `not a colour: ${fill}`);
  return m.slice(1).map(Number);
}

async function diffChecks(context) {
  const { page, errors } = await openPage(context, diffSvg);
  await check('diff: a differential flame graph that says so', async () => {
    assert(errors.length === 0, `errors: ${errors.join('; ')}`);
    assert((await text(page, '#title')).includes('spyglass report --diff'), 'title');
    assert((await text(page, '#subtitle')).includes('before.prof'), 'subtitle names BEFORE');
    const note = await text(page, '#note');
    assert(note.includes('differential flame graph'), `note: ${note}`);
    const legend = await text(page, '.legend');
    assert(legend.includes('share grew (deepest: +'), `legend: ${legend}`);
  });
  await fresh(page);
  await check('diff: render grew (red), parse shrank (blue), both shares on hover', async () => {
    const [rr, rg, rb] = rgbOf((await frame(page, 'render')).fill);
    const [pr, pg, pb] = rgbOf((await frame(page, 'parse')).fill);
    assert(rr > rb + 50 && rr > rg + 50, `render is not red: ${rr},${rg},${rb}`);
    assert(pb > pr + 50, `parse is not blue: ${pr},${pg},${pb}`);
    await (await rectOf(page, 'render')).hover();
    const details = await text(page, '#details');
    assert(/before [\d.]+%, change \+[\d.]+ points/.test(details), `details: ${details}`);
    await page.screenshot({ path: `${shotDir}/flamegraph-diff.png` });
  });
  await fresh(page);
  await check('diff: zooms and searches like any flame graph', async () => {
    await (await rectOf(page, 'main')).click();
    near((await frame(page, 'main')).w, WIDTH, 'zoomed width');
    const share = await page.evaluate(() => window.search('^render '));
    assert(share > 60 && share < 95, `render's share after: ${share}`);
    assert(errors.length === 0, `errors: ${errors.join('; ')}`);
  });
  await page.close();
}

const userDataDir = mkdtempSync(path.join(tmpdir(), 'spyglass-chromium-'));
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    timeout: 30000,
    viewport: { width: 1220, height: 420 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  context.setDefaultTimeout(5000);
  await demoChecks(context);
  await xssChecks(context);
  if (bigSvg) await bigChecks(context);
  if (reportSvg) await reportChecks(context);
  if (diffSvg) await diffChecks(context);
} catch (err) {
  failed++;
  console.log(`FAIL harness: ${err.stack || err.message}`);
} finally {
  if (context) await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
