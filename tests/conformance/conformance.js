#!/usr/bin/env node
// Conformance of `rocketload serve` with Rocket.Chat's official JS clients
// (ROCKETCHAT.md §5): @rocket.chat/ddp-client@1.1.2 and @rocket.chat/sdk@1.0.0-alpha.42.
//
//   node tests/conformance/conformance.js URL0 URL1 [--password P] [--user-prefix load-]
//        [--room load-room-1] [--timeout-s 60] [--trace]
//
// URL0/URL1 are two instances of one deployment (http://127.0.0.1:PORT). The seeded users
// <prefix>1..<prefix>3 must exist with password P and all be members of the room.
// Each check prints PASS or FAIL with what differed; exit 0 only if every check passed.
// Every connection is closed at the end; the whole run is bounded by --timeout-s.
'use strict';

const crypto = require('node:crypto');
const util = require('node:util');
const WS = require('ws');

// ---------------------------------------------------------------------------------------
// Arguments

function parseArgs(argv) {
	const opts = { urls: [], password: 'password', userPrefix: 'load-', room: 'load-room-1', timeoutS: 60, trace: false };
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		const next = () => {
			if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
			return argv[++i];
		};
		if (a === '--password') opts.password = next();
		else if (a === '--user-prefix') opts.userPrefix = next();
		else if (a === '--room') opts.room = next();
		else if (a === '--timeout-s') opts.timeoutS = Number(next());
		else if (a === '--trace') opts.trace = true;
		else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
		else opts.urls.push(a.replace(/\/+$/, ''));
	}
	if (opts.urls.length !== 2) throw new Error('expected exactly two instance URLs (http://127.0.0.1:PORT)');
	if (!(opts.timeoutS > 0)) throw new Error('--timeout-s must be a positive number');
	return opts;
}

let opts;
try {
	opts = parseArgs(process.argv.slice(2));
} catch (e) {
	console.error(`conformance: ${e.message}`);
	console.error('usage: node conformance.js URL0 URL1 [--password P] [--user-prefix P] [--room NAME] [--timeout-s S] [--trace]');
	process.exit(2);
}

// ---------------------------------------------------------------------------------------
// Frame tracing: every websocket (both clients use the one `ws` copy) records its frames,
// so a failing check can show the frames that were actually exchanged.

const sockets = new Set();
let socketSeq = 0;
const origEmit = WS.prototype.emit;
WS.prototype.emit = function (event, ...args) {
	if (event === 'message' && this._rlTrace) {
		const [data, isBinary] = args;
		this._rlTrace.push(`S→C ${isBinary ? '<binary>' : data.toString()}`);
		if (opts.trace) console.log(`  [ws${this._rlId}] S→C ${isBinary ? '<binary>' : data.toString()}`);
	}
	if (event === 'close') sockets.delete(this);
	return origEmit.call(this, event, ...args);
};
const origSend = WS.prototype.send;
WS.prototype.send = function (data, ...rest) {
	if (this._rlTrace) {
		this._rlTrace.push(`C→S ${data.toString()}`);
		if (opts.trace) console.log(`  [ws${this._rlId}] C→S ${data.toString()}`);
	}
	return origSend.call(this, data, ...rest);
};
class TracedWebSocket extends WS {
	constructor(...args) {
		super(...args);
		this._rlId = ++socketSeq;
		this._rlTrace = [];
		sockets.add(this);
	}
}
// ddp-client uses the global WebSocket (absent in Node 20); RC's own example does this.
globalThis.WebSocket = TracedWebSocket;
// The sdk loads `universal-websocket-client`, which re-exports `ws`: make it construct ours.
require.cache[require.resolve('universal-websocket-client')] = {
	id: 'universal-websocket-client',
	filename: require.resolve('universal-websocket-client'),
	loaded: true,
	exports: TracedWebSocket,
};

const { DDPSDK } = require('@rocket.chat/ddp-client');
const RocketChatClient = require('@rocket.chat/sdk/lib/clients/Rocketchat').default;

// ---------------------------------------------------------------------------------------
// Helpers

const results = [];
const closers = [];
const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');
const show = (v) => util.inspect(v, { depth: 6, breakLength: Infinity });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, ms, what) {
	let timer;
	return Promise.race([
		promise,
		new Promise((_, reject) => {
			timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
		}),
	]).finally(() => clearTimeout(timer));
}

/** A promise with its resolve exposed, plus a timeout-bounded wait. */
function deferred() {
	let resolve;
	const p = new Promise((r) => {
		resolve = r;
	});
	return { promise: p, resolve };
}

class CheckFailed extends Error {}

/** Awaits a promise that must reject (within STEP_MS); returns the rejection value. */
async function rejectionOf(promise, what) {
	try {
		const v = await withTimeout(promise, STEP_MS, what);
		throw new CheckFailed(`expected an error, got the result ${show(v)}`);
	} catch (e) {
		if (e instanceof CheckFailed || (e instanceof Error && e.message.startsWith('timed out'))) throw e;
		return e;
	}
}

/** A Meteor.Error as serialized on the wire (ROCKETCHAT.md §1.4). */
const meteorError = (code, reason) => ({
	isClientSafe: true,
	error: code,
	reason,
	message: `${reason} [${code}]`,
	errorType: 'Meteor.Error',
});
function expect(cond, message) {
	if (!cond) throw new CheckFailed(message);
}
function expectEqual(actual, expected, what) {
	if (!util.isDeepStrictEqual(actual, expected)) {
		throw new CheckFailed(`${what}: expected ${show(expected)}, got ${show(actual)}`);
	}
}

function lastFrames(sock, n = 6) {
	if (!sock || !sock._rlTrace) return '';
	return sock._rlTrace.slice(-n).map((f) => `      ${f.length > 400 ? `${f.slice(0, 400)}…` : f}`).join('\n');
}

/** Runs one named check; a thrown error is a FAIL. Returns the check's value or undefined. */
async function check(name, fn, { sock } = {}) {
	try {
		const detail = await fn();
		results.push({ name, ok: true });
		console.log(`PASS ${name}${detail ? ` — ${detail}` : ''}`);
		return true;
	} catch (e) {
		results.push({ name, ok: false });
		const why = e instanceof CheckFailed || (e instanceof Error && e.message) ? e.message : `rejected with ${show(e)}`;
		console.log(`FAIL ${name} — ${why}`);
		const s = typeof sock === 'function' ? sock() : sock;
		const frames = lastFrames(s);
		if (frames) console.log(`    last frames on that connection:\n${frames}`);
		return false;
	}
}

async function rest(base, method, path, body, auth) {
	const headers = { 'Content-Type': 'application/json' };
	if (auth) {
		headers['X-User-Id'] = auth.userId;
		headers['X-Auth-Token'] = auth.authToken;
	}
	const res = await withTimeout(
		fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }),
		5000,
		`${method} ${path}`,
	);
	const text = await res.text();
	let json;
	try {
		json = JSON.parse(text);
	} catch {
		throw new CheckFailed(`${method} ${path}: HTTP ${res.status}, body is not JSON: ${text.slice(0, 200)}`);
	}
	return { status: res.status, contentType: res.headers.get('content-type'), body: json };
}

/** The ddp-client's socket of one DDPSDK (for frame dumps). */
const sockOf = (sdk) => sdk && sdk.connection && sdk.connection.ws;

// ---------------------------------------------------------------------------------------
// The checks

const [URL0, URL1] = opts.urls;
const U1 = `${opts.userPrefix}1`;
const U2 = `${opts.userPrefix}2`;
const U3 = `${opts.userPrefix}3`;
const STEP_MS = 5000;

async function main() {
	let rid;
	let auth;
	await check(`REST login ${U1} and find room ${opts.room} in rooms.get`, async () => {
		const login = await rest(URL0, 'POST', '/api/v1/login', { user: U1, password: opts.password });
		expectEqual(login.status, 200, 'POST /api/v1/login status');
		expectEqual(login.body.status, 'success', 'login body.status');
		auth = login.body.data;
		expect(auth && typeof auth.userId === 'string' && typeof auth.authToken === 'string', `login data lacks userId/authToken: ${show(login.body)}`);
		const rooms = await rest(URL0, 'GET', '/api/v1/rooms.get', undefined, auth);
		expectEqual(rooms.status, 200, `GET rooms.get status (body ${show(rooms.body)})`);
		const room = (rooms.body.update || []).find((r) => r.name === opts.room);
		expect(room && typeof room._id === 'string', `${opts.room} not in rooms.get update: ${show(rooms.body).slice(0, 300)}`);
		rid = room._id;
		return `rid ${rid}`;
	});
	if (!rid) return;

	await check(`REST channels.info?roomName=${opts.room} -> the same room id`, async () => {
		const info = await rest(URL0, 'GET', `/api/v1/channels.info?roomName=${encodeURIComponent(opts.room)}`, undefined, auth);
		expectEqual(info.status, 200, `GET channels.info status (body ${show(info.body)})`);
		expectEqual(info.body.channel && info.body.channel._id, rid, 'channel._id');
	});


	// --- @rocket.chat/ddp-client: two users on two different instances -------------------
	let a;
	let b;
	await check(`ddp-client connect to instance 0 and instance 1`, async () => {
		a = await withTimeout(DDPSDK.createAndConnect(URL0), STEP_MS, `connected from ${URL0}`);
		closers.push(() => closeDdp(a));
		b = await withTimeout(DDPSDK.createAndConnect(URL1), STEP_MS, `connected from ${URL1}`);
		closers.push(() => closeDdp(b));
		expectEqual(a.connection.status, 'connected', 'instance 0 connection status');
		expectEqual(b.connection.status, 'connected', 'instance 1 connection status');
		return `session ids ${a.connection.session || '?'} / ${b.connection.session || '?'}`;
	}, { sock: () => sockOf(b) || sockOf(a) });
	if (!a || !b) return;

	await check('ddp-client password login (sha-256 digest) on both instances', async () => {
		for (const [sdk, user] of [[a, U1], [b, U2]]) {
			await withTimeout(sdk.account.loginWithPassword(user, sha256(opts.password)), STEP_MS, `login result for ${user}`);
			expect(typeof sdk.account.uid === 'string' && sdk.account.uid.length > 0, `${user}: no user id after login`);
			expect(typeof sdk.account.user.token === 'string' && sdk.account.user.token.length > 0, `${user}: no token after login`);
			expect(!Number.isNaN(sdk.account.user.tokenExpires.getTime()), `${user}: tokenExpires is not an EJSON date`);
			// The username comes from the `added` users document pushed after login.
			expectEqual(sdk.account.user.username, user, `${user}: username from the users collection`);
		}
	}, { sock: () => sockOf(b) });

	await check('ddp-client wrong password -> 401 "User not found"', async () => {
		const c = await withTimeout(DDPSDK.createAndConnect(URL0), STEP_MS, 'connected');
		closers.push(() => closeDdp(c));
		const err = await rejectionOf(c.account.loginWithPassword(U1, sha256(`${opts.password}-wrong`)), 'login result');
		expectEqual(err, meteorError(401, 'User not found'), 'error object');
		closeDdp(c);
	});

	// Subscriptions: both users to the room's messages and typing events.
	const gotA = [];
	const gotB = [];
	const typingA = [];
	const typingB = [];
	const waiters = [];
	const onEvent = (list) => (...args) => {
		list.push(args);
		for (const w of waiters.slice()) w();
	};
	const waitFor = (pred, what) =>
		withTimeout(
			new Promise((resolve) => {
				const w = () => {
					const v = pred();
					if (v) {
						waiters.splice(waiters.indexOf(w), 1);
						resolve(v);
					}
				};
				waiters.push(w);
				w();
			}),
			STEP_MS,
			what,
		);

	let subsOk = false;
	await check('ddp-client subscribe stream-room-messages and stream-notify-room <rid>/user-activity', async () => {
		const subs = [
			a.stream('room-messages', rid, onEvent(gotA)),
			b.stream('room-messages', rid, onEvent(gotB)),
			a.stream('notify-room', `${rid}/user-activity`, onEvent(typingA)),
			b.stream('notify-room', `${rid}/user-activity`, onEvent(typingB)),
		];
		for (const s of subs) await withTimeout(s.ready(), STEP_MS, `ready for ${s.name} ${show(s.params)}`);
		subsOk = true;
	}, { sock: () => sockOf(b) });

	const msgId = `conf-${crypto.randomBytes(6).toString('hex')}`;
	const text = `hello from ${U1} via instance 0 ${msgId}`;
	await check('sendMessage on instance 0 -> result is the stored message', async () => {
		const res = await withTimeout(a.call('sendMessage', { _id: msgId, rid, msg: text }), STEP_MS, 'sendMessage result');
		expectEqual(res && res._id, msgId, 'result._id');
		expectEqual(res.rid, rid, 'result.rid');
		expectEqual(res.msg, text, 'result.msg');
		expectEqual(res.u && res.u.username, U1, 'result.u.username');
		expectEqual(res.u && res.u._id, a.account.uid, 'result.u._id');
		expect(res.ts && typeof res.ts.$date === 'number', `result.ts is not EJSON {"$date": ms}: ${show(res.ts)}`);
	}, { sock: () => sockOf(a) });

	await check('message from instance 0 delivered to the subscriber on instance 1', async () => {
		expect(subsOk, 'subscriptions were not ready');
		const [m] = await waitFor(() => gotB.find(([msg]) => msg && msg._id === msgId), `stream-room-messages changed for ${msgId} on instance 1`);
		expectEqual(m.msg, text, 'delivered msg');
		expectEqual(m.rid, rid, 'delivered rid');
		expectEqual(m.u && m.u.username, U1, 'delivered u.username');
		expect(m.ts && typeof m.ts.$date === 'number', `delivered ts is not EJSON: ${show(m.ts)}`);
	}, { sock: () => sockOf(b) });

	await check("sender's own connection also receives its message (server emit has no origin)", async () => {
		expect(subsOk, 'subscriptions were not ready');
		await waitFor(() => gotA.find(([msg]) => msg && msg._id === msgId), `stream-room-messages changed for ${msgId} on instance 0`);
	}, { sock: () => sockOf(a) });

	await check('typing (user-activity) from instance 1 reaches the other user, not echoed to the sender', async () => {
		expect(subsOk, 'subscriptions were not ready');
		const r = await withTimeout(b.call('stream-notify-room', `${rid}/user-activity`, U2, ['user-typing'], {}), STEP_MS, 'stream-notify-room result');
		expect(r === undefined || r === null || r === true, `unexpected result ${show(r)}`);
		const ev = await waitFor(() => typingA.find((args) => args[0] === U2), 'user-activity event on instance 0');
		expectEqual(ev.slice(0, 2), [U2, ['user-typing']], 'user-activity args');
		// Negative check: give the sender's connection the same chance to see an echo.
		await b.call('stream-notify-room', `${rid}/user-activity`, U2, [], {});
		await waitFor(() => typingA.find((args) => args[0] === U2 && Array.isArray(args[1]) && args[1].length === 0), 'typing-stop event on instance 0');
		await sleep(300);
		expectEqual(typingB, [], 'events echoed to the sender on instance 1');
	}, { sock: () => sockOf(b) });

	await check('typing for another username is silently dropped (result ok, no event)', async () => {
		const before = typingA.length;
		await withTimeout(b.call('stream-notify-room', `${rid}/user-activity`, U1, ['user-typing'], {}), STEP_MS, 'stream-notify-room result');
		await sleep(300);
		expectEqual(typingA.slice(before), [], 'events for a spoofed username');
	}, { sock: () => sockOf(b) });

	await check('loadHistory on instance 1 contains the message', async () => {
		const h = await withTimeout(b.call('loadHistory', rid, null, 50, { $date: Date.now() }), STEP_MS, 'loadHistory result');
		expect(h && Array.isArray(h.messages), `result has no messages array: ${show(h)}`);
		const m = h.messages.find((x) => x._id === msgId);
		expect(m, `message ${msgId} not in history (${h.messages.length} messages)`);
		expectEqual(m.msg, text, 'history msg');
	}, { sock: () => sockOf(b) });

	await check('unknown method -> Meteor.Error 404 surfaced verbatim', async () => {
		const err = await rejectionOf(a.call('conformance-no-such-method'), 'result');
		expectEqual(err, meteorError(404, "Method 'conformance-no-such-method' not found"), 'error object');
	}, { sock: () => sockOf(a) });

	await check('unknown publication -> nosub with 404', async () => {
		const s = a.client.subscribe('conformance-no-such-pub', 'x');
		const err = await rejectionOf(s.ready(), 'nosub');
		expectEqual(err, meteorError(404, "Subscription 'conformance-no-such-pub' not found"), 'nosub error');
	}, { sock: () => sockOf(a) });

	await check('unsub -> nosub without error', async () => {
		const s = a.client.subscribe('stream-notify-room', `${rid}/deleteMessage`, { useCollection: false, args: [] });
		await withTimeout(s.ready(), STEP_MS, 'ready');
		const r = await withTimeout(a.client.unsubscribe(s.id), STEP_MS, 'nosub');
		expectEqual(r.msg, 'nosub', 'reply msg');
		expect(!('error' in r), `nosub carries an error: ${show(r)}`);
	}, { sock: () => sockOf(a) });

	await check('ping with id -> pong with the same id', async () => {
		const sock = sockOf(a);
		const got = deferred();
		const off = a.connection.client.onMessage((m) => {
			if (m.msg === 'pong' && m.id === 'conf-ping-1') got.resolve(m);
		});
		a.connection.client.ping('conf-ping-1');
		const m = await withTimeout(got.promise, STEP_MS, 'pong');
		off();
		expectEqual({ ...m }, { msg: 'pong', id: 'conf-ping-1' }, 'pong frame');
		expect(sock.readyState === sock.OPEN, 'socket closed');
	}, { sock: () => sockOf(a) });

	// --- @rocket.chat/sdk: REST login + DDP resume (what RC's load tester does) ------------
	let sdk;
	let sdkSock;
	await check(`sdk connect + REST login + DDP resume (${U3} on instance 1)`, async () => {
		sdk = new RocketChatClient({ host: URL1, useSsl: false, logger: silentLogger });
		closers.push(() => sdk.disconnect().catch(() => {}));
		await withTimeout(sdk.connect({}), STEP_MS, 'sdk connect');
		sdkSock = (await sdk.socket).ddp.connection;
		const resumed = await withTimeout(sdk.login({ username: U3, password: opts.password }), STEP_MS, 'sdk login');
		expect(sdk.currentLogin && typeof sdk.currentLogin.authToken === 'string', `no REST login: ${show(sdk.currentLogin)}`);
		expectEqual(sdk.currentLogin.username, U3, 'REST login data.me.username');
		expect(resumed && typeof resumed === 'object', `DDP resume returned ${show(resumed)}`);
		expectEqual(resumed.id, sdk.currentLogin.userId, 'resume result id');
		expectEqual(resumed.type, 'resume', 'resume result type');
		expect(typeof resumed.token === 'string' && resumed.token.length > 0, `resume result token: ${show(resumed.token)}`);
	}, { sock: () => sdkSock });

	if (sdk && sdk.currentLogin) {
		const sdkMsgs = [];
		const sdkWait = (pred, what) =>
			withTimeout(
				new Promise((resolve) => {
					const t = setInterval(() => {
						const v = sdkMsgs.find(pred);
						if (v) {
							clearInterval(t);
							resolve(v);
						}
					}, 20);
					closers.push(() => clearInterval(t));
				}),
				STEP_MS,
				what,
			);
		await check('sdk subscribe stream-room-messages and receive a message sent on instance 0', async () => {
			const driver = await sdk.socket;
			await withTimeout(sdk.subscribe('stream-room-messages', rid), STEP_MS, 'sdk subscription ready');
			driver.onMessage((m) => sdkMsgs.push(m));
			const id = `conf-${crypto.randomBytes(6).toString('hex')}`;
			await withTimeout(a.call('sendMessage', { _id: id, rid, msg: `to the sdk ${id}` }), STEP_MS, 'sendMessage result');
			const m = await sdkWait((x) => x._id === id, `delivery of ${id} to the sdk`);
			expectEqual(m.msg, `to the sdk ${id}`, 'delivered msg');
		}, { sock: () => sdkSock });

		await check('sdk REST chat.sendMessage -> delivered to the ddp-client on instance 0', async () => {
			const id = `conf-${crypto.randomBytes(6).toString('hex')}`;
			const res = await withTimeout(sdk.sendMessage({ _id: id, rid, msg: `rest ${id}` }, rid), STEP_MS, 'chat.sendMessage');
			expectEqual(res && res._id, id, 'chat.sendMessage message._id');
			const [m] = await waitFor(() => gotA.find(([x]) => x && x._id === id), `delivery of ${id} on instance 0`);
			expectEqual(m.u && m.u.username, U3, 'delivered u.username');
		}, { sock: () => sockOf(a) });

		await check('sdk methodCall stream-notify-room user-activity -> typing seen on instance 0', async () => {
			await withTimeout(sdk.methodCall('stream-notify-room', `${rid}/user-activity`, U3, ['user-typing']), STEP_MS, 'stream-notify-room result');
			const ev = await waitFor(() => typingA.find((args) => args[0] === U3), 'user-activity from the sdk user');
			expectEqual(ev.slice(0, 2), [U3, ['user-typing']], 'user-activity args');
		}, { sock: () => sockOf(a) });

		await check('sdk methodCall of an unknown method rejects with the 404 Meteor.Error', async () => {
			const err = await rejectionOf(sdk.methodCall('conformance-no-such-method'), 'result');
			expect(err && err.error === 404, `expected a rejection with error 404, got ${show(err)}`);
		}, { sock: () => sdkSock });
	}
}

const silentLogger = { debug() {}, info() {}, warning() {}, warn() {}, error() {} };

function closeDdp(sdk) {
	try {
		sdk.timeoutControl.stop();
		sdk.connection.close();
	} catch {
		// already closed
	}
}

async function shutdown() {
	for (const c of closers.reverse()) {
		try {
			await withTimeout(Promise.resolve(c()), 2000, 'close');
		} catch {
			// closing is best effort; sockets still open are terminated below
		}
	}
	for (const s of sockets) s.terminate();
}

const overall = setTimeout(async () => {
	console.log(`FAIL whole run — did not finish within ${opts.timeoutS} s`);
	await shutdown();
	process.exit(1);
}, opts.timeoutS * 1000);

process.on('unhandledRejection', (e) => {
	// Clients fire-and-forget some promises (e.g. resubscribe on reconnect); report, don't crash.
	console.log(`  note: unhandled rejection ${show(e)}`);
});

main()
	.catch((e) => {
		results.push({ name: 'harness', ok: false });
		console.log(`FAIL harness — ${e && e.stack ? e.stack : show(e)}`);
	})
	.then(async () => {
		clearTimeout(overall);
		await shutdown();
		const failed = results.filter((r) => !r.ok).length;
		console.log(`conformance: ${results.length - failed} passed, ${failed} failed`);
		process.exit(failed === 0 && results.length > 0 ? 0 : 1);
	});
