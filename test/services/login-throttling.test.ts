import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertProblem } from '../support/assertions.ts';
import { USER_PASSWORD } from '../support/factories.ts';
import { api, createHarness, TEST_ADMIN, type ApiResponse, type Harness } from '../support/helpers.ts';

// Failed-login throttling (LOGIN_MAX_ATTEMPTS = 5, LOGIN_WINDOW_S = 900 here). Every attempt
// counts against the account (the user the email finds, however it is spelt), the client
// address, and the two together: 5 per account from one address, 20 per account from all
// addresses, 20 per address over all accounts. A refused attempt counts against nothing, so one
// address can't keep a user out; a success takes back its own attempt only.

const LIMIT = 5;
const SPREAD_LIMIT = 4 * LIMIT;
const WINDOW_S = 900;

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(() => h.close());

let addressCounter = 0;
/** A client address no other test uses. */
const newAddress = () => `10.7.${Math.floor(addressCounter / 250)}.${(addressCounter++ % 250) + 1}`;
/** Digits only, so that the local parts below hold exactly the i's they are written with. */
const digits = () => String(Math.floor(Math.random() * 1e9)).padStart(9, '0');
const WRONG = 'not the password';
/** LATIN CAPITAL LETTER I WITH DOT ABOVE: PostgreSQL's lower() folds it to 'i', JavaScript's to 'i' + U+0307. */
const DOTTED_I = '\u0130';

async function login(email: string, password: string, remoteAddress: string): Promise<ApiResponse> {
  const response = await h.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ email, password }),
    remoteAddress,
  });
  return { status: response.statusCode, headers: response.headers, body: JSON.parse(response.body) };
}

async function newUser(email = `user-${digits()}@example.com`): Promise<{ id: string; email: string }> {
  const response = await api(h.app, 'POST', '/api/v1/users', { email, name: 'Throttled', role: 'viewer', password: USER_PASSWORD });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return response.body;
}

function assertThrottled(response: ApiResponse) {
  assertProblem(response, 429, 'rate_limited');
  const retryAfter = Number(response.headers['retry-after']);
  assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= WINDOW_S, `Retry-After within LOGIN_WINDOW_S: ${retryAfter}`);
}

async function failTimes(times: number, email: string, address: string) {
  for (let i = 0; i < times; i += 1) assertProblem(await login(email, WRONG, address), 401, 'unauthenticated');
}

/** Every counter, as the database holds it (the window's start to the microsecond). */
const counters = () =>
  h.db.connection((db) =>
    db.query<{ subject: string; attempts: number; windowStartedAt: string }>(
      'SELECT subject, attempts, window_started_at::text AS "windowStartedAt" FROM login_attempts ORDER BY subject',
    ),
  );
/** One counter's attempts, or undefined when it has no row. */
async function attemptsOf(subject: string): Promise<number | undefined> {
  return (await counters()).find((row) => row.subject === subject)?.attempts;
}
const userSubject = (id: string) => `user:${id}`;
const pairSubject = (id: string, address: string) => `pair:user:${id}|ip:${address}`;

describe('login throttling: an account is counted by the user it finds, however the email is spelt', () => {
  it('answers 429 to the right password spelt with İ after 5 failures spelt plainly from the same address', async () => {
    const user = await newUser(`kiwi-${digits()}@example.com`);
    const dotted = user.email.replace('kiwi', `k${DOTTED_I}wi`);
    // The spelling finds the user: it logs in when nothing is throttled.
    assert.equal((await login(dotted, USER_PASSWORD, newAddress())).status, 200);

    const address = newAddress();
    await failTimes(LIMIT, user.email, address);
    assertThrottled(await login(dotted, USER_PASSWORD, address));
    assertThrottled(await login(user.email.toUpperCase(), USER_PASSWORD, address));
  });

  it('counts spellings with İ in different positions as one: they don’t multiply the guesses', async () => {
    const user = await newUser(`kiwi-${digits()}@example.com`);
    const spellings = ['kiwi', `k${DOTTED_I}wi`, `kiw${DOTTED_I}`, `k${DOTTED_I}w${DOTTED_I}`, 'KIWI'].map((local) =>
      user.email.replace('kiwi', local),
    );
    const address = newAddress();
    for (let i = 0; i < LIMIT; i += 1) assertProblem(await login(spellings[i % spellings.length]!, WRONG, address), 401, 'unauthenticated');
    for (const spelling of spellings) assertThrottled(await login(spelling, WRONG, address));
    assert.equal(await attemptsOf(userSubject(user.id)), LIMIT);
    assert.equal(await attemptsOf(pairSubject(user.id, address)), LIMIT);
    const tail = user.email.slice('kiwi'.length);
    assert.deepEqual(
      (await counters()).filter((row) => row.subject.includes(tail)),
      [],
      'no counter per spelling',
    );
  });

  it('throttles an unknown email exactly as a known one, İ spellings included', async () => {
    const unknown = `kiwi-${digits()}@nowhere.example`;
    const address = newAddress();
    await failTimes(LIMIT, unknown, address);
    assertThrottled(await login(unknown.replace('kiwi', `k${DOTTED_I}w${DOTTED_I}`), WRONG, address));
    assert.equal(await attemptsOf(`email:${unknown}`), LIMIT);
  });
});

describe('login throttling: one address can’t keep a user out', () => {
  it('lets the right password in from another address while one address is throttled', async () => {
    const user = await newUser();
    const attacker = newAddress();
    await failTimes(LIMIT, user.email, attacker);
    assertThrottled(await login(user.email, WRONG, attacker));
    assert.equal((await login(user.email, USER_PASSWORD, newAddress())).status, 200);
    assertThrottled(await login(user.email, USER_PASSWORD, attacker));
    // Another account from the throttled address is not affected either.
    assert.equal((await login(TEST_ADMIN.email, TEST_ADMIN.password, attacker)).status, 200);
  });

  it('counts nothing and writes nothing for an attempt it refuses', async () => {
    const user = await newUser();
    const attacker = newAddress();
    await failTimes(LIMIT, user.email, attacker);
    const before = await counters();
    for (let i = 0; i < 3 * LIMIT; i += 1) assertThrottled(await login(user.email, i % 3 === 0 ? USER_PASSWORD : WRONG, attacker));
    assert.deepEqual(await counters(), before);
    assert.equal(await attemptsOf(userSubject(user.id)), LIMIT, 'one address adds at most LOGIN_MAX_ATTEMPTS to the account');
    assert.equal(await attemptsOf(`ip:${attacker}`), LIMIT);
  });

  it('still slows guesses spread over many addresses: 4 addresses × 5 failures close the account to a fifth address', async () => {
    const user = await newUser();
    for (let i = 0; i < 4; i += 1) await failTimes(LIMIT, user.email, newAddress());
    const fifth = newAddress();
    const before = await counters();
    assertThrottled(await login(user.email, USER_PASSWORD, fifth));
    assert.deepEqual(await counters(), before, 'the refused attempt wrote nothing');
    assert.equal(await attemptsOf(userSubject(user.id)), SPREAD_LIMIT);
    assert.equal(await attemptsOf(`ip:${fifth}`), undefined);
  });

  it('throttles an address past 4 × LOGIN_MAX_ATTEMPTS over any accounts, and writes nothing for the refused ones', async () => {
    const address = newAddress();
    for (let i = 0; i < SPREAD_LIMIT; i += 1) {
      assertProblem(await login(`spray-${i}-${digits()}@example.com`, WRONG, address), 401, 'unauthenticated');
    }
    const before = await counters();
    const unseen = `spray-unseen-${digits()}@example.com`;
    assertThrottled(await login(unseen, WRONG, address));
    assertThrottled(await login(TEST_ADMIN.email, TEST_ADMIN.password, address));
    assert.deepEqual(await counters(), before, 'no counter for the refused email, no count against the admin');
    assert.equal((await login(TEST_ADMIN.email, TEST_ADMIN.password, newAddress())).status, 200);
  });

  it('counts parallel guesses atomically: of 20 at once from one address, 5 are checked', async () => {
    const user = await newUser();
    const address = newAddress();
    const answers = await Promise.all(Array.from({ length: 20 }, () => login(user.email, WRONG, address)));
    assert.equal(answers.filter((answer) => answer.status === 401).length, LIMIT);
    assert.equal(answers.filter((answer) => answer.status === 429).length, 20 - LIMIT);
    assert.equal(await attemptsOf(pairSubject(user.id, address)), LIMIT);
  });

  it('counts parallel guesses from many addresses atomically: of 30 at once, 20 are checked', async () => {
    const user = await newUser();
    const answers = await Promise.all(Array.from({ length: 30 }, () => login(user.email, WRONG, newAddress())));
    assert.equal(answers.filter((answer) => answer.status === 401).length, SPREAD_LIMIT);
    assert.equal(answers.filter((answer) => answer.status === 429).length, 30 - SPREAD_LIMIT);
    assert.equal(await attemptsOf(userSubject(user.id)), SPREAD_LIMIT);
  });
});

describe('login throttling: a successful login', () => {
  it('takes back only its own attempt: the account keeps the failures from other addresses', async () => {
    const user = await newUser();
    for (let i = 0; i < 3; i += 1) await failTimes(LIMIT, user.email, newAddress());
    const own = newAddress();
    assert.equal((await login(user.email, USER_PASSWORD, own)).status, 200);
    assert.equal(await attemptsOf(userSubject(user.id)), 3 * LIMIT, 'not reset');
    assert.equal(await attemptsOf(`ip:${own}`), 0);
    assert.equal(await attemptsOf(pairSubject(user.id, own)), undefined);
    // So the last LOGIN_MAX_ATTEMPTS guesses from a fourth address close the account.
    await failTimes(LIMIT, user.email, newAddress());
    assertThrottled(await login(user.email, USER_PASSWORD, newAddress()));
  });

  it('forgives the failures from its own address', async () => {
    const user = await newUser();
    const address = newAddress();
    await failTimes(LIMIT - 1, user.email, address);
    assert.equal((await login(user.email, USER_PASSWORD, address)).status, 200);
    await failTimes(LIMIT, user.email, address);
    assertThrottled(await login(user.email, USER_PASSWORD, address));
    assert.equal(await attemptsOf(userSubject(user.id)), 2 * LIMIT - 1, 'the account keeps every failure');
  });
});
