// A wasmpod service in JavaScript: a plain `wasi:http/proxy` component built with
// componentize-js (SpiderMonkey). A fetch-event handler serves each request; outgoing `fetch()`
// goes through wasi:http/outgoing-handler, so `http://NAME/...` reaches the service NAME.
//
// GET anything: answers with a greeting read from config (the env var GREETING, set by the pod's
// `env:` list) and with what another service said when called by name (UPSTREAM, default
// `http://hello/hello`: the Rust sample). There is no `process.env`: the environment comes from
// the standard `wasi:cli/environment` import declared in wit/world.wit.

import { getEnvironment } from 'wasi:cli/environment@0.2.10';

const DEFAULT_GREETING = 'Hello from JavaScript!';
const DEFAULT_UPSTREAM = 'http://hello/hello';

function env(name, fallback) {
  for (const [key, value] of getEnvironment()) {
    if (key === name) return value;
  }
  return fallback;
}

async function handle(request) {
  const greeting = env('GREETING', DEFAULT_GREETING);
  const upstream = env('UPSTREAM', DEFAULT_UPSTREAM);
  let status = 200;
  let said;
  try {
    const response = await fetch(upstream);
    const text = await response.text();
    if (response.status !== 200) status = 502;
    said = `${upstream} answered ${response.status}:\n${text}`;
  } catch (e) {
    status = 502;
    said = `cannot reach ${upstream}: ${e}\n`;
  }
  const path = new URL(request.url).pathname;
  const body = `${greeting} (${request.method} ${path})\n${said}${said.endsWith('\n') ? '' : '\n'}`;
  return new Response(body, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
}

addEventListener('fetch', (event) => event.respondWith(handle(event.request)));
