// {{name}}: a wasmpod service, a plain `wasi:http/proxy` component built with componentize-js.
// A fetch-event handler serves each request (a fresh instance each time); outgoing `fetch()` goes
// through wasi:http/outgoing-handler, so `http://NAME/...` reaches the Service NAME.
//
// Answers with a greeting read from config (the env var GREETING, set by the pod's `env:` list)
// and, when UPSTREAM is set (say `http://hello/hello`), with what that service answered.
// There is no `process.env`: the environment comes from the `wasi:cli/environment` import
// declared in wit/world.wit.

import { getEnvironment } from 'wasi:cli/environment@0.2.10';

function env(name, fallback) {
  for (const [key, value] of getEnvironment()) {
    if (key === name) return value;
  }
  return fallback;
}

async function handle(request) {
  const greeting = env('GREETING', 'Hello from {{name}}!');
  const upstream = env('UPSTREAM', '');
  let status = 200;
  let body = `${greeting}\n`;
  if (upstream) {
    try {
      const response = await fetch(upstream);
      if (response.status !== 200) status = 502;
      body += `${upstream} answered ${response.status}:\n${await response.text()}`;
    } catch (e) {
      status = 502;
      body += `cannot reach ${upstream}: ${e}\n`;
    }
  }
  return new Response(body, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
}

addEventListener('fetch', (event) => event.respondWith(handle(event.request)));
