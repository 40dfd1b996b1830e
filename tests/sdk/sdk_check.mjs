// tests/sdk/sdk_check.mjs — checks bench/fakecarrier against RingCentral's
// official JavaScript SDK (@ringcentral/sdk), the client RingCentral's
// servers are used to seeing.
//
//   node tests/sdk/sdk_check.mjs http://127.0.0.1:PORT
//
// It logs in with a JWT, lists the extension's numbers, sends an SMS, reads
// it back from the message store until it is Delivered, survives an expired
// access token (the SDK refreshes on 401 and retries), refreshes, and logs
// out. It prints each step and exits 0 only if all went right.
// Install the SDK first: npm ci --prefix tests/sdk (etc/bootstrap.sh does).
import rc from '@ringcentral/sdk';

const { SDK } = rc;
const server = process.argv[2];
const FROM = '+15551234567';
const TO = '+15559870001';
const TEXT = 'Hello from the RingCentral JS SDK ' + Date.now();

function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  check(server && /^https?:\/\//.test(server), 'usage: sdk_check.mjs SERVER_URL');
  const sdk = new SDK({
    server,
    clientId: 'fake-client-id',
    clientSecret: 'fake-client-secret',
    appName: 'smsgw-sdk-check',
    appVersion: '1.0.0',
  });
  const platform = sdk.platform();

  await platform.login({ jwt: 'fake-jwt' });
  const auth = await platform.auth().data();
  check(auth.access_token && auth.refresh_token, 'login gave an access and a refresh token');
  check(await platform.loggedIn(), 'the SDK counts itself logged in');
  console.log('login: ok, owner', auth.owner_id, 'expires_in', auth.expires_in);

  const nums = await (await platform.get('/restapi/v1.0/account/~/extension/~/phone-number')).json();
  const sender = nums.records.find((n) => n.phoneNumber === FROM);
  check(sender && sender.features.includes('SmsSender'), FROM + ' is an SMS sender of the extension');
  console.log('phone numbers: ok,', nums.records.map((n) => n.phoneNumber).join(' '));

  const sent = await (await platform.post('/restapi/v1.0/account/~/extension/~/sms', {
    from: { phoneNumber: FROM },
    to: [{ phoneNumber: TO }],
    text: TEXT,
  })).json();
  check(sent.id && sent.messageStatus === 'Queued', 'the send answered a Queued message: ' + JSON.stringify(sent));
  check(sent.subject === TEXT && sent.to[0].phoneNumber === TO, 'the message is the one sent');
  console.log('sms: ok, id', sent.id, sent.messageStatus);

  let status = sent.messageStatus;
  for (let i = 0; i < 300 && status !== 'Delivered'; i++) {
    const m = await (await platform.get(`/restapi/v1.0/account/~/extension/~/message-store/${sent.id}`)).json();
    check(m.id === sent.id, 'the message store has the message');
    status = m.messageStatus;
    if (status !== 'Delivered') await sleep(100);
  }
  check(status === 'Delivered', 'the message reached Delivered (last: ' + status + ')');
  console.log('message store: ok,', status);

  // every access token expires: the SDK gets 401, refreshes, retries once
  const before = (await platform.auth().data()).access_token;
  await platform.post('/_fake/expire-tokens', null, null, { skipAuthCheck: true });
  const again = await (await platform.get(`/restapi/v1.0/account/~/extension/~/message-store/${sent.id}`)).json();
  check(again.id === sent.id, 'read after the token expired');
  const after = (await platform.auth().data()).access_token;
  check(after && after !== before, 'the SDK refreshed its token after the 401');
  console.log('expired token: ok, refreshed on 401');

  await platform.refresh();
  check((await platform.auth().data()).access_token !== after, 'an explicit refresh gave a new token');
  console.log('refresh: ok');

  await platform.logout();
  check(!(await platform.auth().accessTokenValid()), 'logged out');
  console.log('logout: ok');
  console.log('sdk check passed');
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error('sdk check FAILED:', e && e.message ? e.message : e);
    if (e && e.response) console.error('HTTP', e.response.status, e.response.url);
    process.exit(1);
  },
);
