// The SMSC the SMPP tests talk to: the npm `smpp` package's server (its PDU codec and
// GSM 03.38 / UCS-2 decoders, not ours), with just enough SMSC behaviour around it to
// check what the host sends.
//
// Environment:
//   SMSC_PORT        SMPP port (0: any free one)
//   SMSC_CONTROL     HTTP control port (0: any free one)
//   SMSC_JOURNAL     a file of accepted submissions, kept across restarts (required)
//   SMSC_SYSTEM_ID, SMSC_PASSWORD   the credentials bind must carry
//   SMSC_THROTTLE    answer this many submit_sm with ESME_RTHROTTLED, then
//                    SMSC_QUEUE_FULL more with ESME_RMSGQFUL, before accepting
//   SMSC_RESP_DELAY_MS  delay every submit_sm_resp (a far SMSC: makes windowing matter)
//   SMSC_EXPIRE_FIRST  the first this many receipts say EXPIRED (the phone stayed off);
//                    the rest DELIVRD
//   SMSC_EXPIRE_PART   receipts for this part number of every message say EXPIRED
//   SMSC_RECEIPT_DELAY_MS  how long after accepting a part its receipt is sent (20)
//   SMSC_SYNC        "0": do not fsync the journal per submission (benchmarks; a kill
//                    may then forget the last few)
//   SMSC_RECEIPTS    how receipts name the message: "tlv" (receipted_message_id), "dec"
//                    (the text only, the id in decimal, zero-padded to 10), "hex" (the
//                    text only, as submit_sm_resp gave it), "mixed" (cycles through all
//                    three), or "none"
//
// It prints `smsc smpp=<port> control=<port>` once both listen. The control API:
//   GET  /messages  every reassembled message, by the host's message id
//   GET  /stats     counters (submits, duplicates, throttled, binds, in-flight peak, ...)
//   POST /mo        {"from", "to", "text", "parts", "reverse"}: a citizen's SMS, sent as
//                   deliver_sm (as `parts` concatenated ones, optionally last first);
//                   answers once the host has acknowledged every part with deliver_sm_resp
//
// Submissions are deduplicated by the host's message id (vendor TLV 0x1401) and part
// number, as an SMSC that honours the host's id would: a resubmission after a crash gets
// the same SMSC id back and is counted in `duplicates`, never delivered twice.

'use strict';
const fs = require('fs');
const http = require('http');
const smpp = require('smpp');

const env = (name, fallback) => (process.env[name] === undefined ? fallback : process.env[name]);
const journalPath = env('SMSC_JOURNAL');
if (!journalPath) {
	console.error('SMSC_JOURNAL must name a file');
	process.exit(2);
}
const systemId = env('SMSC_SYSTEM_ID', 'proactive');
const password = env('SMSC_PASSWORD', 'secret');
let throttleLeft = Number(env('SMSC_THROTTLE', '0'));
let queueFullLeft = Number(env('SMSC_QUEUE_FULL', '0'));
const respDelay = Number(env('SMSC_RESP_DELAY_MS', '0'));
const receiptsMode = env('SMSC_RECEIPTS', 'mixed');
const sync = env('SMSC_SYNC', '1') !== '0';
let expireLeft = Number(env('SMSC_EXPIRE_FIRST', '0'));
const expirePart = Number(env('SMSC_EXPIRE_PART', '0'));
const receiptDelay = Number(env('SMSC_RECEIPT_DELAY_MS', '20'));

const HOST_ID_TLV = String(0x1401);

// part key "<host id>/<seq>" -> { smscId, dest, ... }
const parts = new Map();
let nextId = 0x1000;
for (const line of fs.existsSync(journalPath) ? fs.readFileSync(journalPath, 'utf8').split('\n') : []) {
	if (!line.trim()) continue;
	try {
		const p = JSON.parse(line);
		parts.set(p.key, p);
		nextId = Math.max(nextId, p.smscNumber + 1);
	} catch (e) {
		// A line cut short by a kill: that submission was never answered, so the host resends it.
	}
}
const journal = fs.openSync(journalPath, 'a');

const stats = {
	submits: 0,
	accepted: 0,
	duplicates: 0,
	throttled: 0,
	queue_full: 0,
	binds: 0,
	bad_binds: 0,
	unbinds: 0,
	enquire_links: 0,
	receipts_sent: 0,
	receipts_acked: 0,
	mo_sent: 0,
	mo_acked: 0,
	in_flight: 0,
	in_flight_peak: 0,
	restored: parts.size,
};

let bound = null;
let receiptTurn = 0;

function hexId(n) {
	return n.toString(16);
}

function receiptText(id, stat) {
	const now = new Date();
	const pad = (n) => String(n).padStart(2, '0');
	const stamp = `${pad(now.getUTCFullYear() % 100)}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())}${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}`;
	return `id:${id} sub:001 dlvrd:001 submit date:${stamp} done date:${stamp} stat:${stat} err:000 text:`;
}

function sendReceipt(session, part) {
	const mode = receiptsMode === 'mixed' ? ['tlv', 'dec', 'hex'][receiptTurn++ % 3] : receiptsMode;
	if (mode === 'none') return;
	const textId = mode === 'dec' ? String(part.smscNumber).padStart(10, '0') : hexId(part.smscNumber);
	const expired = expireLeft > 0 || (expirePart > 0 && part.seq === expirePart);
	if (expireLeft > 0) expireLeft--;
	const pdu = {
		source_addr: part.dest,
		destination_addr: part.source,
		esm_class: smpp.ESM_CLASS.MC_DELIVERY_RECEIPT,
		short_message: receiptText(textId, expired ? 'EXPIRED' : 'DELIVRD'),
	};
	if (mode === 'tlv') {
		pdu.receipted_message_id = hexId(part.smscNumber);
		pdu.message_state = expired ? smpp.MESSAGE_STATE.EXPIRED : smpp.MESSAGE_STATE.DELIVERED;
	}
	stats.receipts_sent++;
	session.deliver_sm(pdu, (resp) => {
		if (resp.command_status === 0) stats.receipts_acked++;
	});
}

function respond(session, pdu, fields) {
	const send = () => {
		stats.in_flight--;
		session.send(pdu.response(fields));
	};
	if (respDelay > 0) setTimeout(send, respDelay);
	else send();
}

function onSubmit(session, pdu) {
	stats.submits++;
	stats.in_flight++;
	stats.in_flight_peak = Math.max(stats.in_flight_peak, stats.in_flight);
	if (throttleLeft > 0) {
		throttleLeft--;
		stats.throttled++;
		return respond(session, pdu, { command_status: smpp.ESME_RTHROTTLED });
	}
	if (queueFullLeft > 0) {
		queueFullLeft--;
		stats.queue_full++;
		return respond(session, pdu, { command_status: smpp.ESME_RMSGQFUL });
	}
	const hostId = pdu[HOST_ID_TLV] ? pdu[HOST_ID_TLV].toString('utf8').replace(/\0+$/, '') : null;
	const sm = pdu.short_message || {};
	let seq = 1;
	let total = 1;
	let ref = null;
	for (const h of sm.udh || []) {
		if (h[0] === 0x00 && h.length >= 5) {
			ref = h[2];
			total = h[3];
			seq = h[4];
		} else if (h[0] === 0x08 && h.length >= 6) {
			ref = h.readUInt16BE(2);
			total = h[4];
			seq = h[5];
		}
	}
	if (pdu.sar_msg_ref_num !== undefined) {
		ref = pdu.sar_msg_ref_num;
		total = pdu.sar_total_segments;
		seq = pdu.sar_segment_seqnum;
	}
	const key = `${hostId === null ? `anon-${stats.submits}` : hostId}/${seq}`;
	const known = parts.get(key);
	if (known) {
		stats.duplicates++;
		return respond(session, pdu, { message_id: hexId(known.smscNumber) });
	}
	const part = {
		key,
		hostId,
		seq,
		total,
		ref,
		smscNumber: nextId++,
		dest: pdu.destination_addr,
		source: pdu.source_addr,
		dataCoding: pdu.data_coding,
		esmClass: pdu.esm_class,
		registeredDelivery: pdu.registered_delivery,
		text: typeof sm.message === 'string' ? sm.message : String(sm.message),
		bytes: (sm.message && sm.message.length) || 0,
	};
	parts.set(key, part);
	fs.writeSync(journal, JSON.stringify(part) + '\n');
	if (sync) fs.fsyncSync(journal);
	stats.accepted++;
	respond(session, pdu, { message_id: hexId(part.smscNumber) });
	if (part.registeredDelivery & 0x01) setTimeout(() => sendReceipt(session, part), respDelay + receiptDelay);
}

const server = smpp.createServer((session) => {
	session.on('error', () => {});
	session.on('bind_transceiver', (pdu) => {
		if (pdu.system_id !== systemId || pdu.password !== password) {
			stats.bad_binds++;
			session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
			session.close();
			return;
		}
		stats.binds++;
		session.send(pdu.response({ system_id: 'test-smsc' }));
		bound = session;
	});
	session.on('enquire_link', (pdu) => {
		stats.enquire_links++;
		session.send(pdu.response());
	});
	session.on('unbind', (pdu) => {
		stats.unbinds++;
		session.send(pdu.response());
		session.close();
	});
	session.on('submit_sm', (pdu) => onSubmit(session, pdu));
	session.on('close', () => {
		if (bound === session) bound = null;
	});
});

function messages() {
	const byHost = new Map();
	for (const p of parts.values()) {
		const id = p.hostId;
		if (!byHost.has(id)) byHost.set(id, []);
		byHost.get(id).push(p);
	}
	const out = [];
	for (const [hostId, ps] of byHost) {
		ps.sort((a, b) => a.seq - b.seq);
		out.push({
			host_id: hostId,
			to: ps[0].dest,
			from: ps[0].source,
			data_coding: ps[0].dataCoding,
			parts: ps.length,
			total: ps[0].total,
			refs: [...new Set(ps.map((p) => p.ref))],
			text: ps.map((p) => p.text).join(''),
			part_bytes: ps.map((p) => p.bytes),
			smsc_ids: ps.map((p) => hexId(p.smscNumber)),
			registered_delivery: ps[0].registeredDelivery,
		});
	}
	return out;
}

function sendMo(body, res) {
	if (!bound) {
		res.writeHead(503);
		return res.end('no ESME bound');
	}
	const international = String(body.from).startsWith('+');
	const base = {
		source_addr: international ? body.from.slice(1) : body.from,
		source_addr_ton: international ? 1 : 0,
		source_addr_npi: 1,
		destination_addr: body.to || '1414',
	};
	// `parts` > 1: the text goes as that many concatenated deliver_sm (8-bit reference),
	// last part first when `reverse`, as a long SMS from a handset would.
	const total = Math.max(1, Number(body.parts || 1));
	const chars = Array.from(String(body.text));
	const size = Math.ceil(chars.length / total);
	const pdus = [];
	for (let i = 0; i < total; i++) {
		const text = chars.slice(i * size, (i + 1) * size).join('');
		const pdu = { ...base };
		pdu.short_message = total === 1 ? text : { udh: Buffer.from([0x05, 0x00, 0x03, 0x42, total, i + 1]), message: text };
		pdus.push(pdu);
	}
	if (body.reverse) pdus.reverse();
	const statuses = [];
	const session = bound;
	for (const pdu of pdus) {
		stats.mo_sent++;
		session.deliver_sm(pdu, (resp) => {
			if (resp.command_status === 0) stats.mo_acked++;
			statuses.push(resp.command_status);
			if (statuses.length === pdus.length) {
				res.writeHead(200, { 'content-type': 'application/json' });
				res.end(JSON.stringify({ command_status: Math.max(...statuses), statuses }));
			}
		});
	}
}

const control = http.createServer((req, res) => {
	let body = '';
	req.on('data', (c) => (body += c));
	req.on('end', () => {
		if (req.method === 'GET' && req.url === '/messages') {
			res.writeHead(200, { 'content-type': 'application/json' });
			return res.end(JSON.stringify(messages()));
		}
		if (req.method === 'GET' && req.url === '/stats') {
			res.writeHead(200, { 'content-type': 'application/json' });
			return res.end(JSON.stringify({ ...stats, bound: bound !== null }));
		}
		if (req.method === 'POST' && req.url === '/mo') {
			try {
				return sendMo(JSON.parse(body), res);
			} catch (e) {
				res.writeHead(400);
				return res.end(String(e));
			}
		}
		res.writeHead(404);
		res.end();
	});
});

server.listen(Number(env('SMSC_PORT', '0')), '127.0.0.1', () => {
	control.listen(Number(env('SMSC_CONTROL', '0')), '127.0.0.1', () => {
		console.log(`smsc smpp=${server.address().port} control=${control.address().port}`);
	});
});
