// speedscope.test.mjs - loads spyglass's speedscope and Trace Event files
// with speedscope's own import code (the npm `speedscope` package's web app)
// in headless Chromium, and fails on any warning its importers log.
//
//   node speedscope.test.mjs KIND:FILE[:TEXT] ...
//
// KIND is "speedscope" or "trace" (the importer speedscope must pick);
// TEXT, if given, must appear in the page once loaded (a thread or profile
// name from the file). The file is handed over the way speedscope's own
// command line does: a script calling speedscope.loadFileFromBase64, named
// in the #localProfilePath of the packaged index.html. Prints one line per
// check and "N passed, N failed"; exits 1 on failure.

import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const speedscopeDir = path.dirname(require.resolve('speedscope/package.json'));
const version = JSON.parse(readFileSync(path.join(speedscopeDir, 'package.json'))).version;
const indexHtml = path.join(speedscopeDir, 'dist', 'release', 'index.html');
const IMPORTERS = {
  speedscope: 'Importing as speedscope json file',
  trace: 'Importing as Trace Event Format profile',
};

const specs = process.argv.slice(2).map((arg) => {
  const [kind, file, ...rest] = arg.split(':');
  return { kind, file, text: rest.join(':') };
});
if (!specs.length || specs.some((s) => !IMPORTERS[s.kind] || !s.file)) {
  console.error('usage: node speedscope.test.mjs speedscope|trace:FILE[:TEXT] ...');
  process.exit(2);
}

let passed = 0;
let failed = 0;

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

// Chromium's own notes about its software WebGL, not speedscope's.
const noise = (text) => text.startsWith('[.WebGL-') || text.includes('GL Driver Message');

async function load(context, work, spec) {
  const page = await context.newPage();
  const messages = [];
  let imported;
  const done = new Promise((resolve) => {
    imported = resolve;
  });
  page.on('pageerror', (err) => {
    messages.push(`pageerror: ${err.message}`);
    imported();
  });
  page.on('console', (msg) => {
    const text = msg.text();
    if (msg.type() === 'timeEnd' && text.startsWith('import:')) imported();
    if ((msg.type() === 'warning' || msg.type() === 'error') && !noise(text))
      messages.push(`${msg.type()}: ${text}`);
    if (msg.type() === 'log') messages.push(`log: ${text}`);
  });
  const name = path.basename(spec.file);
  const loader = path.join(work, `${name}.js`);
  const data = readFileSync(spec.file).toString('base64');
  writeFileSync(loader, `speedscope.loadFileFromBase64(${JSON.stringify(name)}, "${data}")`);
  await page.goto(`${pathToFileURL(indexHtml).href}#localProfilePath=${loader}`);
  // speedscope logs the import's duration when it is done; a page error
  // ends the wait too. Bounded, in case neither comes.
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('no import within 60 s')), 60000);
  });
  await Promise.race([done, timeout]).finally(() => clearTimeout(timer));
  await page.waitForFunction(() => document.title.endsWith(' - speedscope'));
  return { page, messages };
}

async function check(context, work, spec) {
  const label = `${spec.kind}: ${path.basename(spec.file)}`;
  try {
    const { page, messages } = await load(context, work, spec);
    const logs = messages.filter((m) => m.startsWith('log: ')).join('; ');
    assert(logs.includes(IMPORTERS[spec.kind]), `importer: ${logs}`);
    const problems = messages.filter((m) => !m.startsWith('log: '));
    assert(problems.length === 0, `${problems.length} warnings: ${problems.slice(0, 3).join(' | ')}`);
    const body = await page.evaluate(() => document.body.innerText);
    assert(!/something went wrong|failed to import/i.test(body), `error shown: ${body.slice(0, 200)}`);
    if (spec.text) assert(body.includes(spec.text), `page lacks "${spec.text}": ${body.slice(0, 300)}`);
    await page.close();
    passed++;
    console.log(`ok   ${label}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${label}: ${err.message}`);
  }
}

const work = mkdtempSync(path.join(tmpdir(), 'spyglass-speedscope-'));
let browser;
try {
  console.log(`     speedscope ${version}`);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    timeout: 30000,
    // speedscope draws with WebGL: Chromium's software renderer stands in for a GPU.
    args: ['--no-sandbox', '--enable-unsafe-swiftshader', '--no-first-run'],
  });
  const context = await browser.newContext({ viewport: { width: 1220, height: 700 } });
  context.setDefaultTimeout(30000);
  for (const spec of specs) await check(context, work, spec);
} catch (err) {
  failed++;
  console.log(`FAIL harness: ${err.stack || err.message}`);
} finally {
  if (browser) await browser.close();
  rmSync(work, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
