// A lean DDP client over `ws` for the server benches: an independent load source that shares
// no code with rocketload. One object per websocket; promises for methods and subscriptions;
// server pings answered; `changed` frames on a counting connection are counted without parsing.
'use strict';

const crypto = require('node:crypto');
const WebSocket = require('ws');

const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');

class DdpError extends Error {
	constructor(what, error) {
		super(`${what}: ${JSON.stringify(error)}`);
		this.key = error && error.error !== undefined ? String(error.error) : 'unknown';
	}
}

class Conn {
	/**
	 * @param {string} url   http://host:port of one instance
	 * @param {object} o     { localAddress?, onChanged?(conn) , onClose?(conn, code) }
	 */
	constructor(url, o = {}) {
		this.url = url.replace(/^http/, 'ws').replace(/\/+$/, '') + '/websocket';
		this.o = o;
		this.nextId = 1;
		this.pending = new Map(); // id -> {resolve, reject, what}
		this.changed = 0; // `changed` frames received (counting mode)
		this.pings = 0; // server pings answered
		this.closed = false;
		this.closeCode = undefined;
	}

	/** Opens the socket and completes the DDP handshake. */
	open(timeoutMs = 20000) {
		return new Promise((resolve, reject) => {
			const timer = setTimeout(() => {
				reject(new Error(`connect timeout after ${timeoutMs} ms`));
				this.terminate();
			}, timeoutMs);
			const ws = new WebSocket(this.url, {
				perMessageDeflate: false,
				localAddress: this.o.localAddress,
				handshakeTimeout: timeoutMs,
			});
			this.ws = ws;
			ws.on('open', () => ws.send('{"msg":"connect","version":"1","support":["1","pre2","pre1"]}'));
			ws.on('error', (e) => {
				clearTimeout(timer);
				this.lastError = e;
				reject(e);
			});
			ws.on('close', (code) => {
				clearTimeout(timer);
				this.closed = true;
				this.closeCode = code;
				for (const p of this.pending.values()) p.reject(new Error(`closed (${code}) during ${p.what}`));
				this.pending.clear();
				reject(new Error(`closed (${code}) before connected`));
				if (this.o.onClose) this.o.onClose(this, code);
			});
			ws.on('message', (data) => {
				// Fast path for stream events on a counting connection.
				if (this.o.countChanged && data.length > 40 && data.indexOf('"changed"') !== -1) {
					this.changed++;
					if (this.o.onChanged) this.o.onChanged(this);
					return;
				}
				let m;
				try {
					m = JSON.parse(data);
				} catch {
					this.protocolErrors = (this.protocolErrors || 0) + 1;
					return;
				}
				switch (m.msg) {
					case 'connected':
						clearTimeout(timer);
						this.session = m.session;
						resolve(this);
						break;
					case 'failed':
						clearTimeout(timer);
						reject(new Error(`DDP failed: ${JSON.stringify(m)}`));
						break;
					case 'ping':
						this.pings++;
						ws.send(m.id === undefined ? '{"msg":"pong"}' : JSON.stringify({ msg: 'pong', id: m.id }));
						break;
					case 'result': {
						const p = this.pending.get(m.id);
						if (!p) break;
						this.pending.delete(m.id);
						if (m.error !== undefined) p.reject(new DdpError(p.what, m.error));
						else p.resolve(m.result);
						break;
					}
					case 'ready':
						for (const id of m.subs) {
							const p = this.pending.get(id);
							if (p) {
								this.pending.delete(id);
								p.resolve(id);
							}
						}
						break;
					case 'nosub': {
						const p = this.pending.get(m.id);
						if (p) {
							this.pending.delete(m.id);
							p.reject(new DdpError(p.what, m.error));
						}
						break;
					}
					case 'changed':
						this.changed++;
						if (this.o.onChanged) this.o.onChanged(this);
						break;
					default:
						break; // added, updated, pong, server_id: nothing to do
				}
			});
		});
	}

	/** Sends a method call; resolves with its result, rejects with a DdpError. */
	call(method, params) {
		const id = String(this.nextId++);
		return new Promise((resolve, reject) => {
			if (this.closed) {
				reject(new Error(`closed before ${method}`));
				return;
			}
			this.pending.set(id, { resolve, reject, what: method });
			this.ws.send(JSON.stringify({ msg: 'method', method, params, id }));
		});
	}

	sub(name, params) {
		const id = `s${this.nextId++}`;
		return new Promise((resolve, reject) => {
			if (this.closed) {
				reject(new Error(`closed before sub ${name}`));
				return;
			}
			this.pending.set(id, { resolve, reject, what: `sub ${name}` });
			this.ws.send(JSON.stringify({ msg: 'sub', id, name, params }));
		});
	}

	loginPassword(username, password) {
		return this.call('login', [{ user: { username }, password: { digest: sha256(password), algorithm: 'sha-256' } }]);
	}

	loginResume(token) {
		return this.call('login', [{ resume: token }]);
	}

	close() {
		if (this.ws && !this.closed) this.ws.close(1000);
	}

	terminate() {
		if (this.ws) this.ws.terminate();
	}
}

/** Runs `fn(i)` for i in [0, n) with at most `limit` in flight. */
async function pool(n, limit, fn) {
	let next = 0;
	const worker = async () => {
		while (next < n) {
			const i = next++;
			await fn(i);
		}
	};
	await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

/**
 * Ids of the seeded rooms (name starts with `roomPrefix`) a logged-in user is a member of;
 * accepts the array and the {update} forms of `subscriptions/get`. Rooms every user is in
 * (GENERAL) are left out so each bench room keeps its own members.
 */
async function roomsOf(conn, roomPrefix = process.env.ROOM_PREFIX || 'load-room-') {
	const r = await conn.call('subscriptions/get', []);
	const subs = Array.isArray(r) ? r : r && Array.isArray(r.update) ? r.update : [];
	return subs
		.filter((s) => typeof s.rid === 'string' && (typeof s.name !== 'string' || s.name.startsWith(roomPrefix)) && s.rid !== 'GENERAL')
		.map((s) => s.rid);
}

module.exports = { Conn, DdpError, pool, roomsOf, sha256 };
