#!/usr/bin/env node
// A local stand-in for Stripe and PayPal, written from the providers' own
// published specifications rather than from billingd's understanding of
// them (tests/fakes/spec_tables.js names every source). Loopback only.
//
//   node provider.js --port-file F [--port 0] [--stripe-key sk_test_x]
//        [--paypal-client id:secret] [--stripe-webhook URL --stripe-webhook-secret S]
//        [--paypal-webhook URL --paypal-webhook-id ID]
//
// What it does like the real providers (details in stripe.js / paypal.js):
//  - parameters checked against the spec's lists: unknown -> 400
//    parameter_unknown, missing -> 400 parameter_missing (not saved under
//    the key, as Stripe documents for validation failures);
//  - the first response for an Idempotency-Key is saved once execution
//    starts, 4xx and 500s included, and replayed (Idempotent-Replayed: true)
//    for 24 h; then the key is pruned and the same key executes anew. PayPal
//    keeps PayPal-Request-Id 6 h (refunds 45 days);
//  - 3-D Secure cards: requires_action on-session (next_action, client
//    secret), 402 authentication_required off-session;
//  - cancel, search (with a configurable indexing lag), refunds, disputes;
//  - currency rules: Stripe zero-/three-decimal, PayPal's own table;
//  - signed webhooks to the configured endpoints, with duplicates and
//    out-of-order delivery on demand;
//  - a ledger of the money captured and refunded, for the charge audit.
//
// Its clock is real time plus an offset the test moves (POST /_clock).
//
// Control (tests only, no auth):
//   POST /_control {
//     "fault": KIND, "times": N, "match": "POST /v1/payment_intents"  (one rule;
//         replaces the others; "match" is a prefix of "METHOD path"),
//     "add_fault": {"fault", "times", "match"}  (adds a rule),
//     "fault": "random", "rate": 0.2, "mix": [KIND...], "seed": 1,
//     "slow_ms": 3000, "retry_after_s": 1, "decline_code": "insufficient_funds",
//     "search_lag_ms": 0, "approve": PAYPAL_ORDER_ID, "authenticate": PI_ID,
//     "auth_result": "success|failure", "paypal_decline": PAYPAL_ORDER_ID,
//     "paypal_payer_action": PAYPAL_ORDER_ID, "dispute": PI_OR_CHARGE_ID,
//     "capture_pending": PAYPAL_ORDER_ID, "settle_capture": CAPTURE_ID,
//     "capture_status": "COMPLETED|DECLINED", "webhooks": {...}, "flush_webhooks": true,
//     "resend": EVENT_ID, "advance_s": SECONDS, "reset": true (counters, faults,
//     webhook settings), "reset_ledger": true (with reset: intents, orders and
//     the ledger too) }
//   KIND: none | decline | 500 (= 500_unsaved) | 500_unsaved | 500_saved |
//     500_after_charge | 429 | lock_timeout | 424 | 401 | 403 | drop_before |
//     drop_after_charge | slow
//   POST /_clock {"advance_s": N}   GET /_clock -> {"now_ms", "offset_ms"}
//   GET  /_stats    counts (charges by key, faults by kind, keys expired, webhooks...)
//   GET  /_ledger   {"captures": [...], "refunds": [...], "disputes": [...]}
//   GET  /_requests the request log (method, path, key, params, fault, status,
//                   replayed, time; clock advances as method CLOCK)
//   GET  /_webhooks the events sent and their deliveries
'use strict';
const http = require('http');
const fs = require('fs');
const crypto = require('crypto');

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf('--' + name);
  return i >= 0 ? args[i + 1] : def;
};

// ---- shared state -----------------------------------------------------------

const ctx = {
  offsetMs: 0,
  now() { return Date.now() + this.offsetMs; },
  nowS() { return Math.floor(this.now() / 1000); },
  seed: 1,
  rules: [],               // fault rules: {kind, times, match}
  random: null,            // {rate, mix}
  slowMs: 3000,
  retryAfterS: 1,
  declineCode: 'generic_decline',
  searchLagMs: 0,
  stripeKeys: opt('stripe-key') ? [opt('stripe-key')] : null, // null: any sk_test_/sk_live_
  paypalClient: opt('paypal-client') || null,                    // "id:secret", null: any
  stats: null,
  ledger: null,
  requests: [],
  webhooks: null,
};

// The counters start again; the ledger (the money really moved) survives a
// reset unless "reset_ledger" is asked for too, as at a real provider.
function resetStats(ledger = true) {
  ctx.stats = {
    charges: {}, charge_list: [], by_order: {}, faults: {}, requests: 0,
    keys_saved: 0, keys_expired: 0, replays: 0, expired_key_reuses: 0,
    validation_errors: 0, searches: 0, cancels: 0, refunds: 0, disputes: 0,
    clock_advances: 0,
  };
  if (ledger || !ctx.ledger) ctx.ledger = { captures: [], refunds: [], disputes: [] };
  ctx.requests = [];
}
resetStats();

ctx.rid = (p, n = 12) => p + crypto.randomBytes(n).toString('hex');
// A seeded generator so a random run can be repeated.
ctx.rand = () => {
  ctx.seed = (ctx.seed * 1103515245 + 12345) % 2147483648;
  return ctx.seed / 2147483648;
};

// The fault for one provider request, or 'none'.
ctx.takeFault = (method, path) => {
  const sig = method + ' ' + path;
  let kind = 'none';
  for (const r of ctx.rules) {
    if (r.times === 0 || (r.match && !sig.startsWith(r.match))) continue;
    kind = r.kind;
    if (r.times > 0) r.times--;
    break;
  }
  if (kind === 'none' && ctx.random && ctx.random.mix.length && ctx.rand() < ctx.random.rate) {
    kind = ctx.random.mix[Math.floor(ctx.rand() * ctx.random.mix.length)];
  }
  if (kind === '500') kind = '500_unsaved';
  if (kind !== 'none') ctx.stats.faults[kind] = (ctx.stats.faults[kind] || 0) + 1;
  return kind;
};

// One successful capture of money, as the audit reads it.
ctx.recordCapture = (c) => {
  const e = Object.assign({ refunded: 0, disputed: false, time_ms: ctx.now() }, c);
  ctx.ledger.captures.push(e);
  ctx.stats.charges[c.key] = (ctx.stats.charges[c.key] || 0) + 1;
  if (c.order_id) ctx.stats.by_order[c.order_id] = (ctx.stats.by_order[c.order_id] || 0) + 1;
  ctx.stats.charge_list.push({ key: c.key, order_id: c.order_id, amount: c.amount, currency: c.currency });
  return e;
};
ctx.findCapture = (id) => ctx.ledger.captures.find((c) => c.capture_id === id);
ctx.recordRefund = (captureId, r) => {
  const c = ctx.findCapture(captureId);
  if (c) c.refunded += r.amount;
  ctx.ledger.refunds.push(Object.assign({ capture_id: captureId, time_ms: ctx.now() }, r));
  ctx.stats.refunds++;
};

// The entry itself is kept: what the handler learns later (its fault, its
// status, whether it was a replay) is in the log too.
ctx.logRequest = (e) => {
  ctx.stats.requests++;
  e.time_ms = ctx.now();
  if (ctx.requests.length < 50000) ctx.requests.push(e);
};

// Sends a JSON response; `after` is a fault striking after execution:
// drop_after_charge destroys the connection, slow delays the answer.
ctx.send = (res, status, obj, headers = {}, after = 'none', done = null) => {
  const body = JSON.stringify(obj);
  const finish = () => {
    if (done) done();
    if (res.destroyed) return;
    res.writeHead(status, Object.assign({
      'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body),
    }, headers));
    res.end(body);
  };
  if (after === 'drop_after_charge') {
    if (done) done();
    res.socket.destroy();
  } else if (after === 'slow') {
    setTimeout(finish, ctx.slowMs);
  } else {
    finish();
  }
};

const stripe = require('./stripe')(ctx);
const paypal = require('./paypal')(ctx);
ctx.webhooks = require('./webhooks')(ctx, {
  stripeUrl: opt('stripe-webhook'), stripeSecret: opt('stripe-webhook-secret'),
  paypalUrl: opt('paypal-webhook'), paypalWebhookId: opt('paypal-webhook-id'),
});

// ---- control --------------------------------------------------------------------

function advance(seconds) {
  ctx.offsetMs += Math.round(seconds * 1000);
  // In the request log too (a test reading a story sees the jump).
  if (ctx.requests.length < 50000) ctx.requests.push({ provider: 'control', method: 'CLOCK', path: '/_clock', advance_s: seconds, time_ms: ctx.now() });
  ctx.stats.clock_advances++;
  stripe.prune();
  paypal.prune();
}

function control(c) {
  const out = { ok: true };
  if (c.reset) {
    if (c.reset_ledger) { stripe.reset(); paypal.reset(); }
    ctx.webhooks.reset(); resetStats(!!c.reset_ledger);
    ctx.rules = []; ctx.random = null; ctx.searchLagMs = 0; ctx.declineCode = 'generic_decline';
  }
  if (c.fault !== undefined) {
    ctx.rules = [];
    ctx.random = null;
    if (c.fault === 'random') {
      ctx.random = { rate: c.rate === undefined ? 0.2 : c.rate, mix: c.mix || ['500'] };
    } else if (c.fault !== 'none') {
      ctx.rules.push({ kind: c.fault, times: c.times === undefined ? -1 : c.times, match: c.match || '' });
    }
  }
  if (c.add_fault) {
    const f = c.add_fault;
    ctx.rules.push({ kind: f.fault, times: f.times === undefined ? -1 : f.times, match: f.match || '' });
  }
  if (c.rate !== undefined && ctx.random) ctx.random.rate = c.rate;
  if (c.seed !== undefined) ctx.seed = c.seed;
  if (c.slow_ms !== undefined) ctx.slowMs = c.slow_ms;
  if (c.retry_after_s !== undefined) ctx.retryAfterS = c.retry_after_s;
  if (c.decline_code !== undefined) ctx.declineCode = c.decline_code;
  if (c.search_lag_ms !== undefined) ctx.searchLagMs = c.search_lag_ms;
  if (c.stripe_keys !== undefined) ctx.stripeKeys = c.stripe_keys;
  if (c.paypal_client !== undefined) ctx.paypalClient = c.paypal_client;
  if (c.webhooks) ctx.webhooks.configure(c.webhooks);
  if (c.advance_s !== undefined) advance(c.advance_s);
  Object.assign(out, stripe.control(c), paypal.control(c));
  if (c.resend) out.resent = ctx.webhooks.resend(c.resend);
  if (c.flush_webhooks) out.flushed = ctx.webhooks.flush();
  out.fault = ctx.rules.length ? ctx.rules[0].kind : ctx.random ? 'random' : 'none';
  return out;
}

function stats() {
  return Object.assign({}, ctx.stats, stripe.counts(), paypal.counts(),
    { webhooks: ctx.webhooks.counts(), now_ms: ctx.now(), offset_ms: ctx.offsetMs });
}

// ---- server ----------------------------------------------------------------------

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url, 'http://127.0.0.1');
    const path = url.pathname;
    if (path.startsWith('/_')) {
      let c = {};
      try { c = raw ? JSON.parse(raw) : {}; } catch (e) { return ctx.send(res, 400, { error: 'bad json' }); }
      if (path === '/_control' && req.method === 'POST') return ctx.send(res, 200, control(c));
      if (path === '/_clock') {
        if (req.method === 'POST' && c.advance_s !== undefined) advance(c.advance_s);
        return ctx.send(res, 200, { now_ms: ctx.now(), offset_ms: ctx.offsetMs });
      }
      if (path === '/_stats') return ctx.send(res, 200, stats());
      if (path === '/_ledger') return ctx.send(res, 200, ctx.ledger);
      if (path === '/_requests') return ctx.send(res, 200, { requests: ctx.requests });
      if (path === '/_webhooks') return ctx.send(res, 200, ctx.webhooks.list());
      return ctx.send(res, 404, { error: 'no such control endpoint' });
    }
    if (path.startsWith('/v1/payment_intents') || path.startsWith('/v1/refunds') ||
        path.startsWith('/v1/charges')) {
      return stripe.handle(req, res, path, url.searchParams, raw);
    }
    return paypal.handle(req, res, path, url.searchParams, raw);
  });
});
server.keepAliveTimeout = 30000;

server.listen(Number(opt('port', 0)), '127.0.0.1', () => {
  const port = server.address().port;
  const pf = opt('port-file');
  ctx.base = 'http://127.0.0.1:' + port;
  if (pf) { fs.writeFileSync(pf + '.tmp', String(port) + '\n'); fs.renameSync(pf + '.tmp', pf); }
  process.stdout.write('provider fake listening on 127.0.0.1:' + port + '\n');
});
process.on('SIGTERM', () => { server.close(() => process.exit(0)); setTimeout(() => process.exit(0), 500); });
