import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { checkWebhookUrl, isForbiddenAddress, newWebhookSecret, retryDelayMs, signDelivery } from '../../src/domain/webhooks.ts';
import { checkedLookup, resolveTarget, TargetRefusedError, type Resolver } from '../../src/services/webhook-targets.ts';

// The rules of webhooks that need no database (src/domain/webhooks.ts) and the resolution of
// their targets (src/services/webhook-targets.ts): signatures the published Standard Webhooks
// verifier accepts, the retry schedule, and the addresses no delivery may reach.

const BODY = JSON.stringify({ type: 'stock.changed', timestamp: '2026-11-22T10:15:00.000Z', data: { onHand: 3 } });
const now = () => Math.floor(Date.now() / 1000);

describe('webhook secrets and signatures', () => {
  it('makes secrets of whsec_ and the base64 of 24 random bytes, never the same twice', () => {
    const secrets = Array.from({ length: 500 }, newWebhookSecret);
    for (const secret of secrets) {
      assert.match(secret, /^whsec_[A-Za-z0-9+/]{32}$/);
      assert.equal(Buffer.from(secret.slice(6), 'base64').length, 24);
    }
    assert.equal(new Set(secrets).size, secrets.length);
  });

  it("signs so that the standardwebhooks package's verify accepts the delivery unchanged", () => {
    const secret = newWebhookSecret();
    const headers = signDelivery(secret, '42', now(), BODY);
    assert.equal(headers['webhook-id'], '42');
    assert.match(headers['webhook-signature'], /^v1,[A-Za-z0-9+/]+=*$/);
    assert.deepEqual(new Webhook(secret).verify(BODY, { ...headers }), JSON.parse(BODY));
    // The package's own signature of the same message is ours.
    assert.equal(new Webhook(secret).sign('42', new Date(Number(headers['webhook-timestamp']) * 1000), BODY), headers['webhook-signature']);
  });

  it('is refused by verify with another secret, another body, another id or a stale timestamp', () => {
    const secret = newWebhookSecret();
    const headers = signDelivery(secret, '7', now(), BODY);
    const refused = (verify: () => unknown) => assert.throws(verify, WebhookVerificationError);
    refused(() => new Webhook(newWebhookSecret()).verify(BODY, { ...headers }));
    refused(() => new Webhook(secret).verify(BODY.replace('3', '4'), { ...headers }));
    refused(() => new Webhook(secret).verify(BODY, { ...headers, 'webhook-id': '8' }));
    const old = signDelivery(secret, '7', now() - 3600, BODY);
    refused(() => new Webhook(secret).verify(BODY, { ...old }));
  });
});

describe('the retry schedule', () => {
  const schedule = { webhookRetryBaseMs: 5000, webhookRetryMaxMs: 6 * 3_600_000 };

  it('waits base × 4^(n−1) before the n-th retry without jitter', () => {
    const waits = [1, 2, 3, 4, 5, 6, 7].map((retry) => retryDelayMs(retry, schedule, () => 0));
    assert.deepEqual(waits, [5000, 20_000, 80_000, 320_000, 1_280_000, 5_120_000, 20_480_000]);
  });

  it('never waits longer than the maximum, however late the retry', () => {
    assert.equal(
      retryDelayMs(8, schedule, () => 0),
      6 * 3_600_000,
    );
    assert.equal(
      retryDelayMs(99, schedule, () => 0),
      6 * 3_600_000,
    );
    assert.equal(
      retryDelayMs(3, { webhookRetryBaseMs: 1000, webhookRetryMaxMs: 2500 }, () => 0),
      2500,
    );
  });

  it('jitters each wait by up to a quarter less, never more', () => {
    for (let retry = 1; retry <= 10; retry += 1) {
      const nominal = Math.min(5000 * 4 ** (retry - 1), schedule.webhookRetryMaxMs);
      const waits = Array.from({ length: 200 }, () => retryDelayMs(retry, schedule));
      for (const wait of waits) assert.ok(wait >= nominal * 0.75 && wait <= nominal, `${wait} for retry ${retry}`);
      assert.ok(new Set(waits).size > 1, 'the waits are spread');
    }
    assert.equal(
      retryDelayMs(1, schedule, () => 1),
      3750,
    );
  });

  it('numbers retries from 1', () => {
    assert.throws(() => retryDelayMs(0, schedule), /numbered from 1/);
  });
});

describe('webhook URLs', () => {
  it('accepts absolute http and https URLs', () => {
    for (const url of ['https://hooks.example.com/stockroom', 'http://example.com:8080/x?y=1', 'https://[2606:4700::1]/']) {
      assert.deepEqual(checkWebhookUrl(url), [], url);
    }
  });

  it('refuses what is not an http(s) URL, and URLs with credentials', () => {
    for (const url of [
      'example.com/hook',
      'ftp://example.com/',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'https://user:pw@example.com/',
      'https://user@example.com/',
    ]) {
      const errors = checkWebhookUrl(url);
      assert.ok(errors.length > 0, url);
      assert.ok(errors.every((error) => error.path === '/url'));
    }
  });
});

describe('the addresses no delivery may reach', () => {
  const forbidden = {
    'IPv4 loopback': ['127.0.0.1', '127.255.255.254'],
    'IPv4 private (RFC 1918)': ['10.0.0.1', '10.255.255.255', '172.16.0.1', '172.31.255.255', '192.168.0.1', '192.168.255.255'],
    'carrier-grade NAT': ['100.64.0.0', '100.127.255.255'],
    'link-local and cloud metadata': ['169.254.0.1', '169.254.169.254'],
    'unspecified and "this network"': ['0.0.0.0', '0.1.2.3'],
    'multicast, reserved, broadcast': ['224.0.0.1', '239.255.255.250', '240.0.0.1', '255.255.255.255'],
    'documentation and benchmarking': ['192.0.2.1', '198.51.100.7', '203.0.113.9', '198.18.0.1'],
    'IPv6 loopback and unspecified': ['::1', '::'],
    'IPv6 unique local': ['fc00::1', 'fd12:3456:789a::1'],
    'IPv6 link-local (with or without a zone) and site-local': ['fe80::1', 'fe80::1%eth0', 'febf::1', 'fec0::1'],
    'IPv6 multicast': ['ff02::1', 'ff05::1:3'],
    'IPv4-mapped forms of forbidden addresses': ['::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '::ffff:169.254.169.254'],
    'NAT64 and 6to4 forms of forbidden addresses': [
      '64:ff9b::7f00:1',
      '64:ff9b::a9fe:a9fe',
      '64:ff9b:1::1',
      '2002:7f00:1::1',
      '2002:c0a8:101::',
    ],
    'IPv4-compatible (deprecated)': ['::127.0.0.1', '::8.8.8.8'],
    'what is not an address': ['localhost', 'example.com', ''],
  };
  for (const [kind, addresses] of Object.entries(forbidden)) {
    it(`forbids ${kind}`, () => {
      for (const address of addresses) assert.equal(isForbiddenAddress(address), true, address);
    });
  }

  it('allows public addresses, in every form, including the neighbours of the forbidden ranges', () => {
    const allowed = [
      '8.8.8.8',
      '1.1.1.1',
      '93.184.216.34',
      '100.63.255.255',
      '100.128.0.0',
      '172.15.255.255',
      '172.32.0.0',
      '169.253.255.255',
      '223.255.255.255',
      '2606:4700:4700::1111',
      '2a00:1450:4001:82a::200e',
      '::ffff:8.8.8.8',
      '64:ff9b::808:808',
      '2002:808:808::1',
    ];
    for (const address of allowed) assert.equal(isForbiddenAddress(address), false, address);
  });
});

describe('resolving a target', () => {
  const resolver =
    (table: Record<string, string[]>): Resolver =>
    async (host) => {
      const addresses = table[host];
      if (addresses === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    };
  const names = resolver({ 'public.test': ['93.184.216.34'], 'mixed.test': ['93.184.216.34', '10.0.0.7'], 'internal.test': ['127.0.0.1'] });

  it('answers every address of a name that resolves to public addresses only', async () => {
    assert.deepEqual(await resolveTarget('public.test', false, names), [{ address: '93.184.216.34', family: 4 }]);
  });

  it('refuses a name with any forbidden address among its addresses, naming it', async () => {
    await assert.rejects(
      resolveTarget('mixed.test', false, names),
      (error: Error) => error instanceof TargetRefusedError && /10\.0\.0\.7/.test(error.message),
    );
    await assert.rejects(resolveTarget('internal.test', false, names), TargetRefusedError);
    await assert.rejects(resolveTarget('::1', false, names), TargetRefusedError);
  });

  it('allows them with WEBHOOK_ALLOW_PRIVATE_NETWORKS, but never a name that does not resolve', async () => {
    assert.equal((await resolveTarget('mixed.test', true, names)).length, 2);
    await assert.rejects(resolveTarget('nowhere.test', true, names), /does not resolve \(ENOTFOUND\)/);
  });

  it("resolves the system's localhost to loopback, and refuses it", async () => {
    await assert.rejects(resolveTarget('localhost', false), /localhost resolves to (127\.0\.0\.1|::1)/);
    assert.ok((await resolveTarget('localhost', true)).length > 0);
  });

  it("hands a connection's lookup the addresses it checked, in the form node:net asks for", async () => {
    const lookup = (allow: boolean, options: { all?: boolean; family?: number }) =>
      new Promise<{ error: Error | null; address: unknown; family?: number }>((resolve) => {
        checkedLookup(allow, names)('public.test', options as never, (error, address, family) => resolve({ error, address, family }));
      });
    assert.deepEqual(await lookup(false, { all: true }), {
      error: null,
      address: [{ address: '93.184.216.34', family: 4 }],
      family: undefined,
    });
    assert.deepEqual(await lookup(false, {}), { error: null, address: '93.184.216.34', family: 4 });
    const refused = await new Promise<Error | null>((resolve) =>
      checkedLookup(false, names)('internal.test', {}, (error) => resolve(error)),
    );
    assert.ok(refused instanceof TargetRefusedError);
  });
});
