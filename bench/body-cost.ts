import { createHarness, listen } from '../test/support/helpers.ts';

// node --import tsx bench/body-cost.ts [name filter] — what a crafted body of up to
// BODY_LIMIT_BYTES costs the event loop (src/http/plugins/json-body.ts says why it is bounded).
// Part 1 sends each body BENCH_BODY_ROUNDS (7) times through app.inject, one at a time, and
// prints the answer and the median and worst time. Part 2 (BENCH_FLOOD_S seconds, 5; 0 skips it)
// has BENCH_FLOOD_CONNECTIONS (16) clients loop the most costly body over real HTTP, anonymous
// to the login and authenticated to the API, while another asks GET /healthz every 100 ms, and
// prints that one's latency: what every other client of the instance waits meanwhile
// (BENCH_FLOOD_BODY: a part of the flooding body's name, instead of the costliest).

const MiB = 1024 * 1024;
const UUID = '0198c3a5-0000-7000-8000-000000000000';
const rounds = Number(process.env.BENCH_BODY_ROUNDS ?? 7);
const floodS = Number(process.env.BENCH_FLOOD_S ?? 5);
const floodConnections = Number(process.env.BENCH_FLOOD_CONNECTIONS ?? 16);
const only = process.argv[2];

/** `prefix`, then `item(i)` for as many i as fit in `bytes` (at most `count`), comma-separated, then `suffix`. */
function filled(prefix: string, item: (i: number) => string, suffix: string, count = Infinity, bytes = MiB - 64): string {
  const parts: string[] = [];
  let size = prefix.length + suffix.length;
  for (let i = 0; i < count; i += 1) {
    const part = (i === 0 ? '' : ',') + item(i);
    if (size + part.length > bytes) break;
    parts.push(part);
    size += part.length;
  }
  return prefix + parts.join('') + suffix;
}

const movement = `{"type":"inbound","locationId":"${UUID}","lines":[`;
const user = '{"email":"a@b.c","name":"n","role":"clerk","password":"12345678","locationIds":[';
/** Just under the count the bounds admit (JSON_VALUES_MAX: each `{`, `[` and `,` counts one), in bodies that fail on every item. */
const bound = 9_990;
const bodies: Record<string, { url: string; body: string; anonymous?: boolean }> = {
  'login: 100k unknown keys': { url: '/api/v1/auth/login', anonymous: true, body: filled('{', (i) => `"${i.toString(36)}":0`, '}') },
  'login: a 500k-item array': { url: '/api/v1/auth/login', anonymous: true, body: filled('{"email":[', () => '0', '],"password":"x"}') },
  'login: nested 500k deep': { url: '/api/v1/auth/login', anonymous: true, body: `{"email":${'['.repeat(500_000)}${']'.repeat(500_000)}}` },
  'unrouted POST: 350k objects': { url: '/nowhere', anonymous: true, body: filled('[', () => '{}', ']') },
  'movements: 350k empty lines': { url: '/api/v1/movements', body: filled(movement, () => '{}', ']}') },
  'movements: 500k numbers as lines': { url: '/api/v1/movements', body: filled(movement, () => '0', ']}') },
  'movements: 60k objects with "constructor"': { url: '/api/v1/movements', body: filled(movement, () => '{"constructor":0}', ']}') },
  'users: 350k strings as locationIds': { url: '/api/v1/users', body: filled(user, () => '"a"', ']}') },
  'users: 350k objects as locationIds': { url: '/api/v1/users', body: filled(user, () => '{}', ']}') },
  'products: 100k unknown keys': { url: '/api/v1/products', body: filled('{', (i) => `"${i.toString(36)}":0`, '}') },
  'products: a 1 MiB sku of spaces': { url: '/api/v1/products', body: `{"name":"n","sku":"a${' '.repeat(MiB - 100)}"}` },
  'users: a 1 MiB email without @': {
    url: '/api/v1/users',
    body: `{"name":"n","role":"viewer","password":"12345678","email":"${'a'.repeat(MiB - 100)}"}`,
  },
  'tokens: a 1 MiB expiresAt of "t t t"': { url: '/api/v1/tokens', body: `{"name":"n","expiresAt":"${'t '.repeat((MiB - 100) / 2)}"}` },
  'in bounds: 4,990 empty lines': { url: '/api/v1/movements', body: filled(movement, () => '{}', ']}', bound / 2) },
  'in bounds: 2,490 lines of 3 bad fields': {
    url: '/api/v1/movements',
    body: filled(movement, () => '{"productId":"x","quantity":"y","z":1}', ']}', bound / 4),
  },
  'in bounds: 9,990 strings as locationIds': { url: '/api/v1/users', body: filled(user, () => '"a"', ']}', bound) },
  'in bounds: 9,990 unknown 100-byte keys': {
    url: '/api/v1/products',
    body: filled('{', (i) => `"${i.toString(36).padStart(98, 'k')}":0`, '}', bound),
  },
  'in bounds: 9,990 100-byte strings': {
    url: '/api/v1/products',
    body: filled('{"sku":"s","name":"n","x":[', () => `"${'a'.repeat(98)}"`, ']}', bound),
  },
  'in bounds: 9,990 100-byte uuids as locationIds': {
    url: '/api/v1/users',
    body: filled(user, (i) => `"0198c3a5-0000-7000-8000-${i.toString(16).padStart(12, '0')}"`, ']}', bound),
  },
};

const h = await createHarness({ loginMaxAttempts: 1000 });
try {
  const rows = [];
  let worst = { name: '', ms: 0 };
  for (const [name, { url, body, anonymous }] of Object.entries(bodies)) {
    if (only !== undefined && !name.includes(only)) continue;
    const times: number[] = [];
    let answer = '';
    for (let round = 0; round < rounds; round += 1) {
      const started = performance.now();
      const response = await h.app.inject({
        method: 'POST',
        url,
        payload: body,
        headers: { 'content-type': 'application/json', ...(anonymous ? {} : h.auth) },
      });
      times.push(performance.now() - started);
      const problem = JSON.parse(response.body);
      answer = `${response.statusCode} ${problem.code ?? ''}${problem.errors ? ` (${problem.errors.length} errors)` : ''}`;
    }
    times.sort((a, b) => a - b);
    const p50Ms = Number(times[Math.floor(times.length / 2)]!.toFixed(1));
    if (p50Ms > worst.ms) worst = { name, ms: p50Ms };
    rows.push({ body: name, kib: Math.round(body.length / 1024), answer, p50Ms, maxMs: Number(times.at(-1)!.toFixed(1)) });
  }
  console.table(rows);

  const floodName =
    process.env.BENCH_FLOOD_BODY === undefined
      ? worst.name
      : Object.keys(bodies).find((name) => name.includes(process.env.BENCH_FLOOD_BODY!));
  if (floodS > 0 && floodName !== undefined && floodName !== '') {
    const { url, body, anonymous } = bodies[floodName]!;
    const base = await listen(h.app);
    const headers = { 'content-type': 'application/json', ...(anonymous ? {} : h.auth) };
    const until = Date.now() + floodS * 1000;
    let sent = 0;
    const flood = Array.from({ length: floodConnections }, async () => {
      while (Date.now() < until) {
        await fetch(base + url, { method: 'POST', headers, body }).then((response) => response.arrayBuffer());
        sent += 1;
      }
    });
    const health: number[] = [];
    while (Date.now() < until) {
      const started = performance.now();
      await fetch(`${base}/healthz`).then((response) => response.arrayBuffer());
      health.push(performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await Promise.all(flood);
    health.sort((a, b) => a - b);
    const at = (p: number) => health[Math.floor((p / 100) * (health.length - 1))]!.toFixed(1);
    console.log(
      `${floodConnections} clients looping "${floodName}" for ${floodS} s (${sent} bodies): GET /healthz p50 ${at(50)} ms, p99 ${at(99)} ms, max ${at(100)} ms`,
    );
  }
} finally {
  await h.close();
}
