#!/usr/bin/env node
// A local stand-in for the Stripe and PayPal endpoints billingd uses, speaking
// their wire formats (paths, form/JSON bodies, headers, status codes,
// idempotent replay), with fault switches for tests. Loopback only.
//
//   node provider.js --port-file F [--port 0]
//
// Stripe (form-encoded, Authorization: Bearer sk_..., Idempotency-Key):
//   POST /v1/payment_intents                amount, currency, metadata[order_id],
//                                           [customer, payment_method, confirm,
//                                           off_session]
//   GET  /v1/payment_intents/:id
//   POST /v1/payment_intents/:id/confirm    [payment_method]
//   Test payment methods: pm_card_visa succeeds; pm_card_chargeDeclined and
//   pm_card_visa_chargeDeclined decline (402 card_error / card_declined);
//   pm_card_authenticationRequired -> requires_action.
// PayPal (JSON, OAuth2 client credentials, PayPal-Request-Id):
//   POST /v1/oauth2/token                   grant_type=client_credentials (Basic auth)
//   POST /v2/checkout/orders                intent CAPTURE, purchase_units[0].amount
//   GET  /v2/checkout/orders/:id
//   POST /v2/checkout/orders/:id/capture    422 ORDER_NOT_APPROVED until approved
// Control (tests only):
//   POST /_control  {"fault": "none|decline|500|429|slow|drop_after_charge|random",
//                    "times": N (default: until changed), "slow_ms": 3000,
//                    "rate": 0.2, "mix": ["500", ...], "seed": 1 (fault "random":
//                    each request gets a fault of the mix with probability rate),
//                    "approve": "<paypal order id>", "reset": true}
//   GET  /_stats    {"charges": {"<idempotency key>": n}, "charge_list":
//                    [{"key", "amount" (minor units), "currency"}],
//                    "faults": {"<fault>": n}, "intents": N, ...}
'use strict';
const http = require('http');
const fs = require('fs');
const crypto = require('crypto');

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf('--' + name);
  return i >= 0 ? args[i + 1] : def;
};

const state = {
  intents: new Map(),       // id -> PaymentIntent
  idem: new Map(),          // "stripe:" + key -> {params, status, body}
  paypalOrders: new Map(),  // id -> order
  paypalIdem: new Map(),    // request id -> {body, status}
  tokens: new Set(),
  charges: {},              // idempotency key / request id -> successful charges
  chargeList: [],           // every successful charge: {key, amount, currency}
  faults: {},               // injected faults by kind
  rate: 0, mix: [], seed: 1,
  requests: 0,
  fault: 'none', faultTimes: -1, slowMs: 3000,
};

const rid = (p) => p + crypto.randomBytes(12).toString('hex');

// A small seeded generator, so a random fault run can be repeated.
function rand() {
  state.seed = (state.seed * 1103515245 + 12345) % 2147483648;
  return state.seed / 2147483648;
}

function takeFault() {
  if (state.fault === 'none' || state.faultTimes === 0) return 'none';
  let f = state.fault;
  if (f === 'random') {
    if (!state.mix.length || rand() >= state.rate) return 'none';
    f = state.mix[Math.floor(rand() * state.mix.length)];
  }
  if (state.faultTimes > 0) state.faultTimes--;
  state.faults[f] = (state.faults[f] || 0) + 1;
  return f;
}

const ZERO_EXP = ['BIF', 'CLP', 'DJF', 'GNF', 'JPY', 'KMF', 'KRW', 'MGA', 'PYG', 'RWF', 'UGX', 'VND', 'VUV', 'XAF', 'XOF', 'XPF'];
const THREE_EXP = ['BHD', 'JOD', 'KWD', 'OMR', 'TND'];

// "12.34" USD -> 1234 (exact, by digits).
function minorUnits(value, currency) {
  const cur = String(currency).toUpperCase();
  const e = ZERO_EXP.includes(cur) ? 0 : THREE_EXP.includes(cur) ? 3 : 2;
  const [int, frac = ''] = String(value).split('.');
  return Number(int + frac.padEnd(e, '0').slice(0, e));
}

function recordCharge(key, amount, currency) {
  state.charges[key] = (state.charges[key] || 0) + 1;
  state.chargeList.push({ key, amount, currency: String(currency).toUpperCase() });
}

function send(res, status, obj, headers = {}) {
  const body = JSON.stringify(obj);
  res.writeHead(status, Object.assign({
    'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body),
    'Request-Id': rid('req_'),
  }, headers));
  res.end(body);
}

function stripeError(res, status, type, code, message, extra = {}) {
  send(res, status, { error: Object.assign({ type, code, message }, extra) });
}

// ---- Stripe ---------------------------------------------------------------

function charge(pi, pm, key) {
  pi.payment_method = pm;
  if (pm === 'pm_card_chargeDeclined' || pm === 'pm_card_visa_chargeDeclined') {
    pi.status = 'requires_payment_method';
    pi.last_payment_error = { type: 'card_error', code: 'card_declined',
      decline_code: 'generic_decline', message: 'Your card was declined.' };
    return 'declined';
  }
  if (pm === 'pm_card_authenticationRequired') {
    pi.status = 'requires_action';
    pi.next_action = { type: 'use_stripe_sdk' };
    return 'action';
  }
  pi.status = 'succeeded';
  pi.amount_received = pi.amount;
  pi.latest_charge = rid('ch_');
  recordCharge(key, pi.amount, pi.currency);
  return 'ok';
}

function stripeCreate(req, res, p, key, fault) {
  const amount = Number(p.amount);
  if (!Number.isInteger(amount) || amount < 1) {
    return stripeError(res, 400, 'invalid_request_error', 'parameter_invalid_integer',
      'Invalid integer: ' + p.amount, { param: 'amount' });
  }
  if (!/^[a-z]{3}$/.test(p.currency || '')) {
    return stripeError(res, 400, 'invalid_request_error', 'parameter_missing',
      'Missing required param: currency.', { param: 'currency' });
  }
  const id = rid('pi_');
  const pi = {
    id, object: 'payment_intent', amount, amount_received: 0, currency: p.currency,
    client_secret: id + '_secret_' + crypto.randomBytes(8).toString('hex'),
    customer: p.customer || null, payment_method: p.payment_method || null,
    metadata: {}, status: p.payment_method ? 'requires_confirmation' : 'requires_payment_method',
    created: Math.floor(Date.now() / 1000), livemode: false, last_payment_error: null,
  };
  for (const k of Object.keys(p)) {
    const m = /^metadata\[(.+)\]$/.exec(k);
    if (m) pi.metadata[m[1]] = p[k];
  }
  state.intents.set(id, pi);
  let status = 200, body = pi;
  if (p.confirm === 'true' && p.payment_method) {
    if (fault === 'decline') p.payment_method = 'pm_card_chargeDeclined';
    const r = charge(pi, p.payment_method, key);
    if (r === 'declined') {
      status = 402;
      body = { error: Object.assign({}, pi.last_payment_error, { payment_intent: pi }) };
    }
  }
  return { status, body };
}

function handleStripe(req, res, path, p, fault) {
  const key = req.headers['idempotency-key'];
  if (!/^Bearer sk_(test|live)_/.test(req.headers.authorization || '')) {
    return stripeError(res, 401, 'invalid_request_error', 'api_key_invalid', 'Invalid API Key provided.');
  }
  let m;
  if (req.method === 'POST' && path === '/v1/payment_intents') {
    if (key) {
      const prev = state.idem.get('stripe:' + key);
      const params = JSON.stringify(p);
      if (prev) {
        if (prev.params !== params) {
          return stripeError(res, 400, 'idempotency_error', 'idempotency_key_in_use',
            'Keys for idempotent requests can only be used with the same parameters they were first used with.');
        }
        return send(res, prev.status, prev.body, { 'Idempotent-Replayed': 'true' });
      }
      const r = stripeCreate(req, res, p, key, fault);
      if (!r) return;
      state.idem.set('stripe:' + key, { params, status: r.status, body: r.body });
      return finish(res, r.status, r.body, fault);
    }
    const r = stripeCreate(req, res, p, rid('nokey_'), fault);
    if (r) finish(res, r.status, r.body, fault);
    return;
  }
  if (req.method === 'GET' && (m = /^\/v1\/payment_intents\/([A-Za-z0-9_]+)$/.exec(path))) {
    const pi = state.intents.get(m[1]);
    if (!pi) return stripeError(res, 404, 'invalid_request_error', 'resource_missing', 'No such payment_intent: ' + m[1]);
    return send(res, 200, pi);
  }
  if (req.method === 'POST' && (m = /^\/v1\/payment_intents\/([A-Za-z0-9_]+)\/confirm$/.exec(path))) {
    const pi = state.intents.get(m[1]);
    if (!pi) return stripeError(res, 404, 'invalid_request_error', 'resource_missing', 'No such payment_intent: ' + m[1]);
    if (pi.status === 'succeeded') {
      return stripeError(res, 400, 'invalid_request_error', 'payment_intent_unexpected_state',
        'This PaymentIntent has already succeeded.', { payment_intent: pi });
    }
    const pm = p.payment_method || pi.payment_method || 'pm_card_visa';
    const r = charge(pi, fault === 'decline' ? 'pm_card_chargeDeclined' : pm, key || pi.id);
    if (r === 'declined') return finish(res, 402, { error: Object.assign({}, pi.last_payment_error, { payment_intent: pi }) }, fault);
    return finish(res, 200, pi, fault);
  }
  return stripeError(res, 404, 'invalid_request_error', 'resource_missing', 'Unrecognized request URL.');
}

// ---- PayPal ---------------------------------------------------------------

function paypalError(res, status, name, issue, message) {
  send(res, status, { name, message, details: issue ? [{ issue, description: message }] : [] });
}

function handlePaypal(req, res, path, body, raw, fault) {
  let m;
  if (req.method === 'POST' && path === '/v1/oauth2/token') {
    if (!/^Basic /.test(req.headers.authorization || '') || !/grant_type=client_credentials/.test(raw)) {
      return send(res, 401, { error: 'invalid_client', error_description: 'Client Authentication failed' });
    }
    const token = 'A21AA' + crypto.randomBytes(16).toString('hex');
    state.tokens.add(token);
    return send(res, 200, { scope: 'https://uri.paypal.com/services/payments', access_token: token,
      token_type: 'Bearer', app_id: 'APP-FAKE', expires_in: 32400, nonce: rid('') });
  }
  const auth = (req.headers.authorization || '').replace(/^Bearer /, '');
  if (!state.tokens.has(auth)) return paypalError(res, 401, 'AUTHENTICATION_FAILURE', null, 'Authentication failed due to invalid authentication credentials or a missing Authorization header.');
  const reqId = req.headers['paypal-request-id'];
  if (req.method === 'POST' && path === '/v2/checkout/orders') {
    if (reqId && state.paypalIdem.has('create:' + reqId)) {
      const prev = state.paypalIdem.get('create:' + reqId);
      return send(res, prev.status, prev.body);
    }
    const pu = body && body.purchase_units && body.purchase_units[0];
    if (!body || body.intent !== 'CAPTURE' || !pu || !pu.amount || !/^\d+(\.\d+)?$/.test(pu.amount.value || '')) {
      return paypalError(res, 400, 'INVALID_REQUEST', 'INVALID_PARAMETER_VALUE', 'Request is not well-formed, syntactically incorrect, or violates schema.');
    }
    const id = crypto.randomBytes(8).toString('hex').toUpperCase().slice(0, 17);
    const order = {
      id, intent: 'CAPTURE', status: 'CREATED', approved: false,
      purchase_units: [{ reference_id: pu.reference_id || 'default', custom_id: pu.custom_id,
        amount: pu.amount }],
      links: [
        { href: 'http://127.0.0.1/v2/checkout/orders/' + id, rel: 'self', method: 'GET' },
        { href: 'https://www.sandbox.paypal.com/checkoutnow?token=' + id, rel: 'approve', method: 'GET' },
        { href: 'http://127.0.0.1/v2/checkout/orders/' + id + '/capture', rel: 'capture', method: 'POST' },
      ],
    };
    state.paypalOrders.set(id, order);
    const out = publicOrder(order);
    if (reqId) state.paypalIdem.set('create:' + reqId, { status: 201, body: out });
    return finish(res, 201, out, fault);
  }
  if (req.method === 'GET' && (m = /^\/v2\/checkout\/orders\/([A-Z0-9]+)$/.exec(path))) {
    const o = state.paypalOrders.get(m[1]);
    if (!o) return paypalError(res, 404, 'RESOURCE_NOT_FOUND', 'INVALID_RESOURCE_ID', 'Specified resource ID does not exist.');
    return send(res, 200, publicOrder(o));
  }
  if (req.method === 'POST' && (m = /^\/v2\/checkout\/orders\/([A-Z0-9]+)\/capture$/.exec(path))) {
    const o = state.paypalOrders.get(m[1]);
    if (!o) return paypalError(res, 404, 'RESOURCE_NOT_FOUND', 'INVALID_RESOURCE_ID', 'Specified resource ID does not exist.');
    if (o.status === 'COMPLETED') {
      if (reqId && state.paypalIdem.has('capture:' + reqId)) {
        const prev = state.paypalIdem.get('capture:' + reqId);
        return send(res, prev.status, prev.body);
      }
      return paypalError(res, 422, 'UNPROCESSABLE_ENTITY', 'ORDER_ALREADY_CAPTURED', 'Order already captured.');
    }
    if (!o.approved) return paypalError(res, 422, 'UNPROCESSABLE_ENTITY', 'ORDER_NOT_APPROVED', 'Payer has not yet approved the Order for payment.');
    if (fault === 'decline') return paypalError(res, 422, 'UNPROCESSABLE_ENTITY', 'INSTRUMENT_DECLINED', 'The instrument presented was either declined by the processor or bank.');
    o.status = 'COMPLETED';
    o.capture = { id: crypto.randomBytes(8).toString('hex').toUpperCase(), status: 'COMPLETED',
      amount: o.purchase_units[0].amount, final_capture: true };
    const key = reqId || o.id;
    recordCharge(key, minorUnits(o.purchase_units[0].amount.value, o.purchase_units[0].amount.currency_code),
      o.purchase_units[0].amount.currency_code);
    const out = publicOrder(o);
    if (reqId) state.paypalIdem.set('capture:' + reqId, { status: 201, body: out });
    return finish(res, 201, out, fault);
  }
  return paypalError(res, 404, 'RESOURCE_NOT_FOUND', null, 'The requested resource was not found.');
}

function publicOrder(o) {
  const pu = Object.assign({}, o.purchase_units[0]);
  if (o.capture) pu.payments = { captures: [o.capture] };
  return { id: o.id, intent: o.intent, status: o.status, purchase_units: [pu], links: o.links };
}

// A response after the provider acted: the faults that strike after the
// effect (drop, slow) happen here.
function finish(res, status, body, fault) {
  if (fault === 'drop_after_charge') { res.socket.destroy(); return; }
  if (fault === 'slow') { setTimeout(() => send(res, status, body), state.slowMs); return; }
  send(res, status, body);
}

// ---- server ---------------------------------------------------------------

function parseForm(raw) {
  const out = {};
  for (const part of raw.split('&')) {
    if (!part) continue;
    const i = part.indexOf('=');
    const k = decodeURIComponent((i < 0 ? part : part.slice(0, i)).replace(/\+/g, ' '));
    out[k] = i < 0 ? '' : decodeURIComponent(part.slice(i + 1).replace(/\+/g, ' '));
  }
  return out;
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks).toString('utf8');
    const path = req.url.split('?')[0];
    if (path === '/_control' && req.method === 'POST') {
      const c = raw ? JSON.parse(raw) : {};
      if (c.reset) { state.intents.clear(); state.idem.clear(); state.paypalOrders.clear(); state.paypalIdem.clear(); state.charges = {}; state.chargeList = []; state.faults = {}; state.requests = 0; }
      if (c.fault !== undefined) { state.fault = c.fault; state.faultTimes = c.times === undefined ? -1 : c.times; }
      if (c.slow_ms !== undefined) state.slowMs = c.slow_ms;
      if (c.rate !== undefined) state.rate = c.rate;
      if (c.mix !== undefined) state.mix = c.mix;
      if (c.seed !== undefined) state.seed = c.seed;
      if (c.approve) { const o = state.paypalOrders.get(c.approve); if (o && o.status === 'CREATED') { o.approved = true; o.status = 'APPROVED'; } }
      return send(res, 200, { ok: true, fault: state.fault });
    }
    if (path === '/_stats') {
      return send(res, 200, { charges: state.charges, charge_list: state.chargeList, faults: state.faults, intents: state.intents.size,
        paypal_orders: state.paypalOrders.size, requests: state.requests });
    }
    state.requests++;
    const fault = takeFault();
    if (fault === '500') return send(res, 500, { error: { type: 'api_error', message: 'Something went wrong on our end.' } });
    if (fault === '429') return send(res, 429, { error: { type: 'rate_limit_error', code: 'rate_limit', message: 'Too many requests.' } }, { 'Retry-After': '1' });
    if (path.startsWith('/v1/payment_intents')) return handleStripe(req, res, path, parseForm(raw), fault);
    let body = null;
    if ((req.headers['content-type'] || '').includes('application/json') && raw) {
      try { body = JSON.parse(raw); } catch (e) { return paypalError(res, 400, 'INVALID_REQUEST', 'MALFORMED_REQUEST_JSON', 'Malformed JSON.'); }
    }
    return handlePaypal(req, res, path, body, raw, fault);
  });
});

server.listen(Number(opt('port', 0)), '127.0.0.1', () => {
  const port = server.address().port;
  const pf = opt('port-file');
  if (pf) { fs.writeFileSync(pf + '.tmp', String(port) + '\n'); fs.renameSync(pf + '.tmp', pf); }
  process.stdout.write('provider fake listening on 127.0.0.1:' + port + '\n');
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
