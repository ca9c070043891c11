#!/usr/bin/env node
// Server benches for `rocketload serve`, driven by Node + ws (independent of rocketload's engine).
//
//   node load.js fanout --urls U[,U...] --users N --password P [--subscribers 10] [--window 8]
//        [--warmup-s 2] [--duration-s 10] [--server-pid PID]
//     Each seeded room gets one sender (not subscribed) and up to --subscribers subscriber
//     sessions on stream-room-messages; senders pipeline DDP sendMessage calls with at most
//     --window outstanding each. Prints accepted messages/s and deliveries/s.
//
//   node load.js hold --urls U[,U...] --sessions S --users N --password P [--subscribe]
//        [--hold-s 60] [--source-ips 127.0.0.1,...] [--server-pid PID] [--barrier DIR:COUNT]
//     Opens S sessions (user i % N; first session per user logs in with the password, the
//     rest resume its token), optionally subscribes each to its room, holds them idle for
//     --hold-s answering server pings, and reports errors and the server's RSS per session.
//
// Loopback only; every phase is bounded in time; every socket is closed at the end.
// Prints one JSON line `RESULT {...}` for the driver (run.sh) to record.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { Conn, pool, roomsOf } = require('./ddp');

const CLK_TCK = 100; // Linux USER_HZ for /proc/PID/stat; 100 on every mainstream kernel

function parseArgs(argv) {
	const o = { mode: argv[0], urls: [], subscribers: 10, window: 8, warmupS: 2, durationS: 10, holdS: 60, sourceIps: ['127.0.0.1'], subscribe: false, connectConcurrency: 256, timeoutS: 600 };
	for (let i = 1; i < argv.length; i++) {
		const a = argv[i];
		const v = () => {
			if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
			return argv[++i];
		};
		const num = () => {
			const n = Number(v());
			if (!Number.isFinite(n) || n < 0) throw new Error(`${a} needs a non-negative number`);
			return n;
		};
		switch (a) {
			case '--urls': o.urls = v().split(',').filter(Boolean); break;
			case '--users': o.users = num(); break;
			case '--password': o.password = v(); break;
			case '--subscribers': o.subscribers = num(); break;
			case '--window': o.window = num(); break;
			case '--warmup-s': o.warmupS = num(); break;
			case '--duration-s': o.durationS = num(); break;
			case '--sessions': o.sessions = num(); break;
			case '--hold-s': o.holdS = num(); break;
			case '--subscribe': o.subscribe = true; break;
			case '--source-ips': o.sourceIps = v().split(',').filter(Boolean); break;
			case '--server-pid': o.serverPid = num(); break;
			case '--barrier': o.barrier = v(); break;
			case '--connect-concurrency': o.connectConcurrency = num(); break;
			case '--timeout-s': o.timeoutS = num(); break;
			default: throw new Error(`unknown option ${a}`);
		}
	}
	if (!['fanout', 'hold'].includes(o.mode)) throw new Error('mode must be fanout or hold');
	if (o.urls.length === 0 || !o.users || o.password === undefined) throw new Error('--urls, --users and --password are required');
	for (const u of o.urls) {
		const host = new URL(u).hostname;
		if (!/^127\.\d+\.\d+\.\d+$/.test(host) && host !== 'localhost') throw new Error(`${u}: loopback targets only`);
	}
	for (const ip of o.sourceIps) if (!/^127\.\d+\.\d+\.\d+$/.test(ip)) throw new Error(`${ip}: source addresses must be in 127.0.0.0/8`);
	if (o.mode === 'hold' && !o.sessions) throw new Error('hold needs --sessions');
	return o;
}

function procStat(pid) {
	if (!pid) return undefined;
	try {
		const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
		const rssKib = Number((/VmRSS:\s+(\d+) kB/.exec(status) || [])[1]);
		const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
		const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
		const cpuS = (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime + stime
		return { rssKib, cpuS, at: process.hrtime.bigint() };
	} catch {
		return undefined;
	}
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);

/** Connects and logs in user `u` (1-based) on url index `k`. */
async function loggedIn(o, u, k, extra = {}) {
	const c = new Conn(o.urls[k % o.urls.length], extra);
	await c.open();
	await c.loginPassword(`${o.userPrefix}${u}`, o.password);
	return c;
}

// ------------------------------------------------------------------------------------------
async function fanout(o) {
	const conns = [];
	log(`logging in ${o.users} users`);
	const users = new Array(o.users);
	await pool(o.users, 64, async (i) => {
		const c = await loggedIn(o, i + 1, i, { countChanged: true });
		conns.push(c);
		users[i] = { c, rooms: await roomsOf(c) };
	});
	// Group by room: first member sends, the next `subscribers` members listen.
	const byRoom = new Map();
	for (const u of users) for (const rid of u.rooms) {
		if (!byRoom.has(rid)) byRoom.set(rid, []);
		byRoom.get(rid).push(u.c);
	}
	const senders = [];
	const listeners = [];
	const busy = new Set();
	for (const [rid, members] of byRoom) {
		const free = members.filter((c) => !busy.has(c));
		if (free.length < 1 + o.subscribers) continue;
		senders.push({ c: free[0], rid });
		busy.add(free[0]);
		for (const c of free.slice(1, 1 + o.subscribers)) {
			listeners.push({ c, rid });
			busy.add(c);
		}
	}
	if (senders.length === 0) throw new Error(`no room has ${1 + o.subscribers} members among the first ${o.users} users`);
	await pool(listeners.length, 64, (i) => listeners[i].c.sub('stream-room-messages', [listeners[i].rid, { useCollection: false, args: [] }]));
	log(`${senders.length} senders, ${listeners.length} subscriber sessions (${o.subscribers} per room), window ${o.window}`);

	let accepted = 0;
	let errors = {};
	let running = true;
	let seq = 0;
	const sendLoop = async (s) => {
		while (running) {
			try {
				await s.c.call('sendMessage', [{ rid: s.rid, msg: `bench ${seq++}` }]);
				accepted++;
			} catch (e) {
				const k = e.key || 'transport';
				errors[k] = (errors[k] || 0) + 1;
				if (s.c.closed) return;
			}
		}
	};
	const delivered = () => listeners.reduce((n, l) => n + l.c.changed, 0);
	const loops = [];
	for (const s of senders) for (let w = 0; w < o.window; w++) loops.push(sendLoop(s));

	await sleep(o.warmupS * 1000);
	const a0 = accepted;
	const d0 = delivered();
	const cpu0 = process.cpuUsage();
	const s0 = procStat(o.serverPid);
	const t0 = process.hrtime.bigint();
	errors = {};
	await sleep(o.durationS * 1000);
	const secs = Number(process.hrtime.bigint() - t0) / 1e9;
	const a1 = accepted;
	const d1 = delivered();
	const cpu1 = process.cpuUsage(cpu0);
	const s1 = procStat(o.serverPid);
	running = false;
	await Promise.race([Promise.all(loops), sleep(5000)]);
	await sleep(500); // let in-flight deliveries land before the totals
	const result = {
		mode: 'fanout',
		instances: o.urls.length,
		senders: senders.length,
		subscribers_per_room: o.subscribers,
		window: o.window,
		seconds: +secs.toFixed(2),
		messages_per_s: Math.round((a1 - a0) / secs),
		deliveries_per_s: Math.round((d1 - d0) / secs),
		deliveries_per_message: a1 > a0 ? +((d1 - d0) / (a1 - a0)).toFixed(2) : 0,
		errors,
		generator_cpu_pct: Math.round(((cpu1.user + cpu1.system) / 1e6 / secs) * 100),
		server_cpu_pct: s0 && s1 ? Math.round(((s1.cpuS - s0.cpuS) / secs) * 100) : null,
		server_rss_mib: s1 ? +(s1.rssKib / 1024).toFixed(1) : null,
	};
	for (const c of conns) c.close();
	await sleep(300);
	for (const c of conns) c.terminate();
	return result;
}

// ------------------------------------------------------------------------------------------
async function barrier(spec, timeoutMs) {
	const [dir, countStr] = spec.split(':');
	const count = Number(countStr);
	fs.mkdirSync(dir, { recursive: true });
	fs.writeFileSync(path.join(dir, `ready-${process.pid}`), '');
	const deadline = Date.now() + timeoutMs;
	while (fs.readdirSync(dir).filter((f) => f.startsWith('ready-')).length < count) {
		if (Date.now() > deadline) throw new Error(`barrier ${spec}: peers not ready within ${timeoutMs} ms`);
		await sleep(100);
	}
}

/** The soft RLIMIT_NOFILE of this process (every socket is one descriptor). */
function fileLimit() {
	try {
		const m = /Max open files\s+(\d+|unlimited)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
		return m && m[1] !== 'unlimited' ? Number(m[1]) : Infinity;
	} catch {
		return Infinity;
	}
}

async function hold(o) {
	const limit = fileLimit();
	if (o.sessions + 100 > limit) throw new Error(`${o.sessions} sessions need more descriptors than RLIMIT_NOFILE ${limit}: raise ulimit -n or split over processes`);
	const before = procStat(o.serverPid);
	const n = o.sessions;
	const conns = new Array(n);
	const tokens = new Map(); // user -> {token, rid}
	const errors = {};
	const err = (k) => {
		errors[k] = (errors[k] || 0) + 1;
	};
	let unexpectedCloses = 0;
	let holding = false;
	const onClose = (c, code) => {
		if (holding) {
			unexpectedCloses++;
			err(`close_${code}`);
		}
	};
	const t0 = Date.now();
	// First the password logins (one per user), then every other session resumes a token.
	const firstRound = Math.min(n, o.users);
	const open = async (i) => {
		const u = (i % o.users) + 1;
		const c = new Conn(o.urls[i % o.urls.length], { localAddress: o.sourceIps[i % o.sourceIps.length], onClose });
		conns[i] = c;
		try {
			await c.open();
			let t = tokens.get(u);
			if (!t) {
				const r = await c.loginPassword(`${o.userPrefix}${u}`, o.password);
				const rooms = o.subscribe ? await roomsOf(c) : [];
				t = { token: r.token, rid: rooms[0] };
				tokens.set(u, t);
			} else {
				await c.loginResume(t.token);
			}
			if (o.subscribe) {
				if (!t.rid) throw new Error(`${o.userPrefix}${u} is in no room`);
				await c.sub('stream-room-messages', [t.rid, { useCollection: false, args: [] }]);
			}
		} catch (e) {
			err(e.key ? `ddp_${e.key}` : (e.code || e.message.split(' ')[0]));
			if (!errors._first) errors._first = String(e.message).slice(0, 200);
		}
		if ((i + 1) % 5000 === 0) log(`${i + 1}/${n} sessions set up`);
	};
	await pool(firstRound, Math.min(o.connectConcurrency, 64), open);
	await pool(n - firstRound, o.connectConcurrency, (i) => open(i + firstRound));
	const setupS = (Date.now() - t0) / 1000;
	const live = () => conns.filter((c) => c && !c.closed).length;
	log(`${live()}/${n} sessions open after ${setupS.toFixed(1)} s`);
	if (o.barrier) await barrier(o.barrier, 300000);
	holding = true;
	await sleep(3000); // settle before the RSS reading
	const after = procStat(o.serverPid);
	const pings0 = conns.reduce((s, c) => s + (c ? c.pings : 0), 0);
	log(`holding ${live()} sessions for ${o.holdS} s`);
	const holdStart = Date.now();
	let minLive = live();
	while (Date.now() - holdStart < o.holdS * 1000) {
		await sleep(1000);
		minLive = Math.min(minLive, live());
	}
	const pings = conns.reduce((s, c) => s + (c ? c.pings : 0), 0) - pings0;
	let stats = null;
	try {
		const r = await fetch(`${o.urls[0]}/_sim/stats`, { signal: AbortSignal.timeout(5000) });
		stats = await r.json();
	} catch (e) {
		stats = { error: String(e.message) };
	}
	holding = false;
	const result = {
		mode: 'hold',
		sessions: n,
		subscribed: o.subscribe,
		instances: o.urls.length,
		source_ips: o.sourceIps.length,
		setup_s: +setupS.toFixed(1),
		open_at_end: live(),
		min_open_during_hold: minLive,
		hold_s: o.holdS,
		server_pings_answered_during_hold: pings,
		unexpected_closes: unexpectedCloses,
		errors,
		server_sessions: stats && stats.sessions !== undefined ? stats.sessions : stats,
		server_rss_before_mib: before ? +(before.rssKib / 1024).toFixed(1) : null,
		server_rss_after_mib: after ? +(after.rssKib / 1024).toFixed(1) : null,
		server_kib_per_session: before && after ? +((after.rssKib - before.rssKib) / n).toFixed(2) : null,
		generator_rss_mib: +(process.memoryUsage.rss() / 1048576).toFixed(0),
	};
	for (const c of conns) if (c) c.close();
	await sleep(2000);
	for (const c of conns) if (c) c.terminate();
	return result;
}

// ------------------------------------------------------------------------------------------
let o;
try {
	o = parseArgs(process.argv.slice(2));
	o.userPrefix = process.env.USER_PREFIX || 'load-';
} catch (e) {
	console.error(`load.js: ${e.message}`);
	process.exit(2);
}
const guard = setTimeout(() => {
	console.error(`load.js: did not finish within ${o.timeoutS} s`);
	process.exit(1);
}, o.timeoutS * 1000);
(o.mode === 'fanout' ? fanout(o) : hold(o))
	.then((r) => {
		clearTimeout(guard);
		console.log(`RESULT ${JSON.stringify(r)}`);
		process.exit(0);
	})
	.catch((e) => {
		console.error(`load.js: ${e.stack || e}`);
		process.exit(1);
	});
