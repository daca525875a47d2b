#!/usr/bin/env node
// Builds this project into a `wasi:http/proxy` component: `node build.mjs` (what `wasmpod build`
// and `just sample-js` run). Idempotent; `--force` rebuilds even when the output is up to date.
//
// 1. Installs the pinned toolchain, @bytecodealliance/componentize-js 0.23.0 from npm
//    (package.json + package-lock.json), with `npm ci` when node_modules is missing or stale.
// 2. Prepares the WIT in build/wit: our world (wit/world.wit) plus the standard `wasi:*`
//    packages from the wasmtime-wasi-http 48.0.8 crate's wit/ (found in the cargo registry, or
//    in $WASMPOD_WIT). componentize-js 0.23.0's engine speaks wasi@0.2.10, so the 0.2.12 files
//    are relabelled 0.2.10 and the one item added after 0.2.10 is gated out, as 0.2.10 had it.
// 3. componentize-js: src/app.js + that world -> <package name>.wasm (about 13 MB: the
//    SpiderMonkey engine, pre-initialised with the app).
//
// Calls componentize-js directly: `jco componentize` 1.35 gives its shim no filesystem preopens.
// componentize-js imports @bytecodealliance/preview2-shim without declaring it (package.json pins
// it); preview2-shim 0.26 starts with no preopens, so this script preopens the host's / at /
// before componentizing, whatever shim version npm resolved.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const TOOL = '@bytecodealliance/componentize-js';
const TOOL_VERSION = '0.23.0';
const WIT_CRATE = 'wasmtime-wasi-http-48.0.8';
const ENGINE_WASI = '0.2.10';

const root = dirname(fileURLToPath(import.meta.url));
const force = process.argv.includes('--force');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const name = pkg.name;
const out = join(root, `${name}.wasm`);
const source = join(root, 'src', 'app.js');

function fail(message) {
  console.error(`error: ${message}`);
  process.exit(1);
}

function mtime(path) {
  return existsSync(path) ? statSync(path).mtimeMs : 0;
}

function files(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)],
  );
}

// 1. The toolchain, pinned by package-lock.json.
function installToolchain() {
  const installed = join(root, 'node_modules', TOOL, 'package.json');
  const lock = join(root, 'package-lock.json');
  const stamp = join(root, 'node_modules', '.package-lock.json');
  const version = existsSync(installed) ? JSON.parse(readFileSync(installed, 'utf8')).version : null;
  if (version === TOOL_VERSION && mtime(stamp) >= mtime(lock)) return;
  const args = existsSync(lock) ? ['ci'] : ['install'];
  const how = args[0] === 'ci' ? 'npm ci, pinned by package-lock.json' : 'npm install, which writes package-lock.json';
  console.error(`installing ${TOOL}@${TOOL_VERSION} (${how})...`);
  const npm = spawnSync('npm', [...args, '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (npm.error?.code === 'ENOENT') {
    fail('npm is missing: install Node.js 18+ with npm (Debian: `apt-get install nodejs npm`), then run `node build.mjs` again');
  }
  if (npm.status !== 0) fail(`\`npm ${args[0]}\` failed (exit ${npm.status}) in ${root}`);
}

// 2. The standard WASI WIT, from the crate the wasmpod runtime is built with.
function findWit() {
  const candidates = [];
  if (process.env.WASMPOD_WIT) candidates.push(process.env.WASMPOD_WIT);
  const cargoHome = process.env.CARGO_HOME || join(homedir(), '.cargo');
  const registry = join(cargoHome, 'registry', 'src');
  if (existsSync(registry)) {
    for (const index of readdirSync(registry)) candidates.push(join(registry, index, WIT_CRATE, 'wit'));
  }
  const found = candidates.find((dir) => existsSync(join(dir, 'deps', 'http.wit')));
  if (!found) {
    fail(
      `the WASI 0.2 WIT was not found: it ships in the ${WIT_CRATE} crate. Run \`cargo fetch\` in a ` +
        'wasmpod checkout (it puts the crate in the cargo registry), or set WASMPOD_WIT to a wit/ ' +
        'directory that has deps/http.wit',
    );
  }
  return found;
}

function relabel(text) {
  const newer = (minor) => Number(minor) > Number(ENGINE_WASI.split('.')[2]);
  return text
    .replace(/@since\(version = 0\.2\.(\d+)\)/g, (m, minor) =>
      newer(minor) ? `@unstable(feature = newer-than-${ENGINE_WASI.replaceAll('.', '-')})` : m,
    )
    .replace(/@0\.2\.(\d+)\b/g, (m, minor) => (newer(minor) ? `@${ENGINE_WASI}` : m));
}

function prepareWit() {
  const from = findWit();
  const dir = join(root, 'build', 'wit');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'deps'), { recursive: true });
  for (const file of readdirSync(join(from, 'deps')).filter((f) => f.endsWith('.wit'))) {
    writeFileSync(join(dir, 'deps', file), relabel(readFileSync(join(from, 'deps', file), 'utf8')));
  }
  writeFileSync(join(dir, 'world.wit'), readFileSync(join(root, 'wit', 'world.wit')));
  return { dir, from };
}

function worldName() {
  const world = readFileSync(join(root, 'wit', 'world.wit'), 'utf8').match(/^\s*world\s+([a-z0-9-]+)/m);
  if (!world) fail('wit/world.wit declares no world');
  return world[1];
}

function upToDate() {
  const inputs = [
    ...files(join(root, 'src')),
    ...files(join(root, 'wit')),
    join(root, 'build.mjs'),
    join(root, 'package.json'),
    join(root, 'package-lock.json'),
  ];
  const built = mtime(out);
  return built > 0 && inputs.every((f) => mtime(f) <= built);
}

if (!force && upToDate()) {
  console.error(`${relative(process.cwd(), out) || out} is up to date`);
  process.exit(0);
}
installToolchain();
const wit = prepareWit();
const world = worldName();
console.error(`componentize-js ${TOOL_VERSION}: src/app.js, world ${world} (WASI WIT from ${wit.from})...`);
const started = Date.now();
const { _setPreopens } = await import('@bytecodealliance/preview2-shim/filesystem');
_setPreopens({ '/': '/' });
const { componentize } = await import(TOOL);
let component;
try {
  ({ component } = await componentize({ sourcePath: source, witPath: wit.dir, worldName: world }));
} catch (e) {
  fail(`componentize-js failed: ${e?.message ?? e}`);
}
writeFileSync(out, component);
const mb = (component.byteLength / 1e6).toFixed(1);
const secs = ((Date.now() - started) / 1000).toFixed(1);
console.error(`wrote ${relative(process.cwd(), out) || out} (${mb} MB) in ${secs} s`);
