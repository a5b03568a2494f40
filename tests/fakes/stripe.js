'use strict';
// Stripe PaymentIntents, Refunds and Disputes as the 2023-09-12 API
// (stripe/openapi spec3.yaml; tables in spec_tables.js) and Stripe's docs
// describe them:
//
//   POST /v1/payment_intents                   PostPaymentIntents
//   GET  /v1/payment_intents/search            GetPaymentIntentsSearch
//   GET  /v1/payment_intents/{intent}          GetPaymentIntentsIntent
//   POST /v1/payment_intents/{intent}/confirm  PostPaymentIntentsIntentConfirm
//   POST /v1/payment_intents/{intent}/cancel   PostPaymentIntentsIntentCancel
//   POST /v1/refunds                           PostRefunds
//   GET  /v1/refunds/{refund}, GET /v1/charges/{charge}
//
// Idempotency (docs.stripe.com/api/idempotent_requests, /error-low-level):
// results are saved "only after the execution of an endpoint begins"; a
// request failing validation (unknown/missing/invalid parameters, bad
// currency) or conflicting with a concurrent one (409
// idempotency_key_in_use) saves nothing; rate limiting (429) and
// authentication (401) run before the idempotency layer. Everything else,
// 402 declines, 400 state errors and 500s included, is replayed for the same
// key with `Idempotent-Replayed: true`; a key reused with other parameters
// or on another endpoint is a 400 idempotency_error. Keys are pruned after
// 24 h on the fake's clock, after which the same key executes again (and so
// can charge again: the hazard billingd must avoid).
//
// Test payment methods (docs.stripe.com/testing): pm_card_visa (and
// _mastercard, _amex, _us) succeed; pm_card_chargeDeclined* decline with
// 402 card_error; pm_card_authenticationRequired / _threeDSecure2Required
// need 3-D Secure on every payment: requires_action on-session (next_action
// use_stripe_sdk or redirect_to_url with the return_url), 402
// authentication_required off-session or with error_on_requires_action;
// pm_card_authenticationRequiredOnSetup needs it on-session only.
const T = require('./spec_tables');

module.exports = (ctx) => {
  const API_VERSION = '2023-09-12';
  let intents, charges, refunds, disputes, idem;
  const reset = () => {
    intents = new Map(); charges = new Map(); refunds = new Map(); disputes = new Map();
    idem = new Map();
  };
  reset();

  const OK = { outcome: 'ok' };
  const decline = (code, decline_code, message) => ({ outcome: 'decline', code, decline_code, message });
  const THREE_DS = { outcome: '3ds' };
  const PMS = {
    pm_card_visa: OK, pm_card_mastercard: OK, pm_card_amex: OK, pm_card_us: OK,
    pm_card_chargeDeclined: decline('card_declined', 'generic_decline', 'Your card was declined.'),
    pm_card_visa_chargeDeclined: decline('card_declined', 'generic_decline', 'Your card was declined.'),
    pm_card_chargeDeclinedInsufficientFunds: decline('card_declined', 'insufficient_funds', 'Your card has insufficient funds.'),
    pm_card_chargeDeclinedFraudulent: decline('card_declined', 'fraudulent', 'Your card was declined.'),
    pm_card_chargeDeclinedExpiredCard: decline('expired_card', 'expired_card', 'Your card has expired.'),
    pm_card_chargeDeclinedIncorrectCvc: decline('incorrect_cvc', 'incorrect_cvc', "Your card's security code is incorrect."),
    pm_card_chargeDeclinedProcessingError: decline('processing_error', 'processing_error', 'An error occurred while processing your card. Try again in a little bit.'),
    pm_card_authenticationRequired: THREE_DS, pm_card_threeDSecure2Required: THREE_DS,
    pm_card_authenticationRequiredOnSetup: { outcome: '3ds_on_session' },
  };

  // ---- wire helpers -----------------------------------------------------------

  const docUrl = (code) => 'https://stripe.com/docs/error-codes/' + code.replace(/_/g, '-');
  function errBody(type, code, message, extra = {}) {
    const e = { message, type };
    if (code) { e.code = code; e.doc_url = docUrl(code); }
    return { error: Object.assign(e, extra) };
  }

  // application/x-www-form-urlencoded with Stripe's bracket notation
  // (a[b]=1, a[]=x, a[0]=x) into nested objects.
  function parseForm(raw) {
    const out = {};
    for (const part of raw.split('&')) {
      if (!part) continue;
      const i = part.indexOf('=');
      const dec = (s) => decodeURIComponent(s.replace(/\+/g, ' '));
      const key = dec(i < 0 ? part : part.slice(0, i));
      const val = i < 0 ? '' : dec(part.slice(i + 1));
      const m = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(key);
      if (!m) throw { param: key, message: 'Invalid parameter name: ' + key };
      const path = [m[1]].concat((m[2].match(/\[([^[\]]*)\]/g) || []).map((s) => s.slice(1, -1)));
      let o = out;
      for (let k = 0; k < path.length; k++) {
        const last = k === path.length - 1;
        let name = path[k];
        if (Array.isArray(o) && (name === '' || /^\d+$/.test(name))) name = name === '' ? o.length : Number(name);
        if (last) { o[name] = val; break; }
        const nextArr = path[k + 1] === '' || /^\d+$/.test(path[k + 1]);
        if (o[name] === undefined || typeof o[name] !== 'object') o[name] = nextArr ? [] : {};
        o = o[name];
      }
    }
    return out;
  }

  const fromQuery = (sp) => {
    const parts = [];
    for (const [k, v] of sp) parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(v));
    return parseForm(parts.join('&'));
  };

  // Checks params against a spec_tables entry; returns a 400 body or null.
  function validate(spec, p) {
    const bad = (code, param, message) => errBody('invalid_request_error', code, message, { param });
    for (const k of Object.keys(p)) {
      const d = spec.params[k];
      const v = p[k];
      if (!d) return bad('parameter_unknown', k, 'Received unknown parameter: ' + k);
      if (d.k === 'i' && (typeof v !== 'string' || !/^-?\d+$/.test(v))) {
        return bad('parameter_invalid_integer', k, 'Invalid integer: ' + (typeof v === 'string' ? v : 'object'));
      }
      if (d.k === 'b' && v !== 'true' && v !== 'false') return bad('parameter_invalid_boolean', k, 'Invalid boolean: ' + v);
      if (d.k === 'sb' && v !== 'true' && v !== 'false' && !d.enum.includes(v)) {
        return bad(null, k, 'Invalid ' + k + ': must be a boolean or one of ' + d.enum.join(', '));
      }
      if (d.k === 's' && typeof v !== 'string') return bad(null, k, 'Invalid string: ' + k);
      if (d.k === 's' && d.enum && !d.enum.includes(v)) {
        return bad(null, k, 'Invalid ' + k + ': must be one of ' + d.enum.filter((x) => x).join(', '));
      }
      if (d.k === 'a' && !Array.isArray(v)) return bad(null, k, 'Invalid array');
      if ((d.k === 'o' || d.k === 'm') && (typeof v !== 'object' || Array.isArray(v)) && v !== '') {
        return bad(null, k, 'Invalid object');
      }
      if (d.k === 'o' && d.keys && typeof v === 'object') {
        for (const sk of Object.keys(v)) {
          if (!d.keys.includes(sk)) return bad('parameter_unknown', k + '[' + sk + ']', 'Received unknown parameter: ' + k + '[' + sk + ']');
        }
      }
      if (d.k === 'm' && typeof v === 'object') {
        if (Object.keys(v).length > 50) return bad(null, k, 'Invalid metadata: at most 50 keys');
        for (const [mk, mv] of Object.entries(v)) {
          if (typeof mv !== 'string' || mk.length > 40 || mv.length > 500) return bad(null, k + '[' + mk + ']', 'Invalid metadata value');
        }
      }
    }
    for (const r of spec.required) {
      if (p[r] === undefined || p[r] === '') return bad('parameter_missing', r, 'Missing required param: ' + r + '.');
    }
    return null;
  }

  // Sorted, so that the same parameters in another order are the same request.
  const canon = (v) => {
    if (Array.isArray(v)) return '[' + v.map(canon).join(',') + ']';
    if (v && typeof v === 'object') return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canon(v[k])).join(',') + '}';
    return JSON.stringify(v);
  };

  const pub = (o) => JSON.parse(JSON.stringify(o, (k, v) => (k.startsWith('_') ? undefined : v)));
  const upper = (c) => String(c).toUpperCase();

  // Currency and amount rules (docs.stripe.com/currencies; spec3.yaml
  // PostPaymentIntents amount: at most eight digits).
  function checkAmount(amount, currency, param) {
    const cur = upper(currency);
    if (!/^[a-z]{3}$/.test(currency) || !T.STRIPE_CURRENCIES.includes(cur)) {
      return errBody('invalid_request_error', null, 'Invalid currency: ' + currency + '. Stripe currently supports these currencies: ' + T.STRIPE_CURRENCIES.join(', ').toLowerCase(), { param: 'currency' });
    }
    const n = Number(amount);
    if (n < 1) return errBody('invalid_request_error', 'amount_too_small', 'Amount must be at least 1 ' + cur + ' minor unit', { param });
    if (n > T.STRIPE_MAX_AMOUNT) return errBody('invalid_request_error', 'amount_too_large', 'Amount must be no more than ' + T.STRIPE_MAX_AMOUNT, { param });
    if (T.STRIPE_THREE_DECIMAL.includes(cur) && n % 10 !== 0) {
      return errBody('invalid_request_error', 'invalid_amount', 'Amounts in ' + cur + ' (a three-decimal currency) must end in 0; round to the nearest ten.', { param });
    }
    return null;
  }

  // ---- the PaymentIntent state machine ----------------------------------------

  const event = (type, obj, reqId, key) => ctx.webhooks.stripe(type, pub(obj), { id: reqId, idempotency_key: key || null });

  function newCharge(pi, status, failure) {
    const ch = {
      id: ctx.rid('ch_'), object: 'charge', amount: pi.amount, amount_captured: status === 'succeeded' ? pi.amount : 0,
      amount_refunded: 0, captured: status === 'succeeded', created: ctx.nowS(), currency: pi.currency,
      customer: pi.customer, disputed: false, failure_code: failure ? failure.code : null,
      failure_message: failure ? failure.message : null, livemode: false, metadata: pi.metadata,
      paid: status === 'succeeded', payment_intent: pi.id, payment_method: pi.payment_method,
      refunded: false, status,
    };
    charges.set(ch.id, ch);
    return ch;
  }

  function succeed(pi, key, reqId) {
    pi.status = 'succeeded';
    pi.next_action = null;
    pi.last_payment_error = null;
    pi.amount_received = pi.amount;
    const ch = newCharge(pi, 'succeeded');
    pi.latest_charge = ch.id;
    ctx.recordCapture({
      provider: 'stripe', capture_id: ch.id, payment_id: pi.id, order_id: pi.metadata.order_id || null,
      key: key || pi.id, amount: pi.amount, currency: upper(pi.currency),
    });
    event('payment_intent.succeeded', pi, reqId, key);
  }

  function fail(pi, err, reqId, key) {
    const ch = newCharge(pi, 'failed', err);
    pi.status = 'requires_payment_method';
    pi.next_action = null;
    pi.latest_charge = ch.id;
    pi.last_payment_error = Object.assign({ charge: ch.id, payment_method: { id: pi.payment_method, object: 'payment_method', type: 'card' } }, err);
    event('payment_intent.payment_failed', pi, reqId, key);
  }

  // Confirms pi with `o` (payment_method, off_session, return_url,
  // use_stripe_sdk, error_on_requires_action). Returns {status, body}.
  function confirm(pi, o, key, reqId, fault) {
    if (!['requires_payment_method', 'requires_confirmation', 'requires_action'].includes(pi.status)) {
      return { status: 400, body: errBody('invalid_request_error', 'payment_intent_unexpected_state', 'You cannot confirm this PaymentIntent because it has a status of ' + pi.status + '.', { payment_intent: pub(pi) }) };
    }
    if (o.payment_method) pi.payment_method = o.payment_method;
    if (!pi.payment_method) {
      return { status: 400, body: errBody('invalid_request_error', 'payment_intent_unexpected_state', "You cannot confirm this PaymentIntent because it's missing a payment method. To confirm the PaymentIntent with " + pi.customer + ', specify a payment method attached to this customer along with the customer ID.', { payment_intent: pub(pi) }) };
    }
    let card = PMS[pi.payment_method];
    if (!card) {
      return { status: 400, body: errBody('invalid_request_error', 'resource_missing', "No such PaymentMethod: '" + pi.payment_method + "'", { param: 'payment_method' }) };
    }
    const off = o.off_session === 'true' || o.off_session === 'one_off' || o.off_session === 'recurring';
    if (fault === 'decline') card = decline('card_declined', ctx.declineCode, 'Your card was declined.');
    if (card.outcome === '3ds_on_session') card = off ? OK : THREE_DS;
    if (card.outcome === 'ok') {
      succeed(pi, key, reqId);
      return { status: 200, body: pub(pi) };
    }
    if (card.outcome === 'decline') {
      const err = { type: 'card_error', code: card.code, decline_code: card.decline_code, message: card.message, doc_url: docUrl(card.code) };
      fail(pi, err, reqId, key);
      return { status: 402, body: { error: Object.assign({}, pi.last_payment_error, { payment_intent: pub(pi) }) }, headers: { 'Stripe-Should-Retry': 'false' } };
    }
    // 3-D Secure.
    if (off || o.error_on_requires_action === 'true') {
      const err = { type: 'card_error', code: 'authentication_required', decline_code: 'authentication_required', message: 'Your card was declined. This transaction requires authentication.', doc_url: docUrl('authentication_required') };
      fail(pi, err, reqId, key);
      return { status: 402, body: { error: Object.assign({}, pi.last_payment_error, { payment_intent: pub(pi) }) }, headers: { 'Stripe-Should-Retry': 'false' } };
    }
    pi.status = 'requires_action';
    pi._key = key;
    const hosted = 'https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_fake&payment_intent=' + pi.id + '&publishable_key=pk_test_fake';
    if (o.return_url && o.use_stripe_sdk !== 'true') {
      pi.next_action = { type: 'redirect_to_url', redirect_to_url: { return_url: o.return_url, url: hosted } };
    } else {
      pi.next_action = { type: 'use_stripe_sdk', use_stripe_sdk: { type: 'three_d_secure_redirect', stripe_js: hosted, source: ctx.rid('src_') } };
    }
    event('payment_intent.requires_action', pi, reqId, key);
    return { status: 200, body: pub(pi) };
  }

  function create(p, key, reqId, fault) {
    const id = ctx.rid('pi_');
    const metadata = typeof p.metadata === 'object' ? p.metadata : {};
    const pi = {
      id, object: 'payment_intent', amount: Number(p.amount), amount_capturable: 0, amount_received: 0,
      automatic_payment_methods: null, canceled_at: null, cancellation_reason: null,
      capture_method: p.capture_method || 'automatic',
      client_secret: id + '_secret_' + ctx.rid('', 12).slice(0, 25),
      confirmation_method: p.confirmation_method || 'automatic', created: ctx.nowS(), currency: p.currency,
      customer: p.customer || null, description: p.description || null, last_payment_error: null,
      latest_charge: null, livemode: false, metadata, next_action: null, payment_method: p.payment_method || null,
      payment_method_types: p.payment_method_types || ['card'], setup_future_usage: p.setup_future_usage || null,
      status: p.payment_method ? 'requires_confirmation' : 'requires_payment_method',
      _created_ms: ctx.now(), _searchable_ms: ctx.now() + ctx.searchLagMs, _key: key,
    };
    intents.set(id, pi);
    if (p.confirm === 'true') return confirm(pi, p, key, reqId, fault);
    return { status: 200, body: pub(pi) };
  }

  // The checks Stripe makes before execution (nothing saved when they fail).
  function precheck(route, p) {
    if (route === 'create') {
      const c = checkAmount(p.amount, p.currency, 'amount');
      if (c) return c;
      for (const only of ['off_session', 'return_url', 'error_on_requires_action']) {
        if (p[only] !== undefined && p.confirm !== 'true') {
          return errBody('invalid_request_error', null, 'The parameter ' + only + ' can only be used with confirm=true.', { param: only });
        }
      }
      const types = p.payment_method_types || ['card'];
      for (const t of types) {
        if (t !== 'card') return errBody('invalid_request_error', null, 'The payment method type "' + t + '" is invalid or not activated on this account.', { param: 'payment_method_types' });
      }
    }
    if (route === 'refund' && !p.payment_intent && !p.charge) {
      return errBody('invalid_request_error', 'parameter_missing', 'One of the following params should be provided for this request: payment_intent or charge.', { param: 'payment_intent' });
    }
    return null;
  }

  function cancel(pi, p, key, reqId) {
    const ok = ['requires_payment_method', 'requires_capture', 'requires_confirmation', 'requires_action', 'processing'];
    if (!ok.includes(pi.status)) {
      return { status: 400, body: errBody('invalid_request_error', 'payment_intent_unexpected_state', 'You cannot cancel this PaymentIntent because it has a status of ' + pi.status + '. Only a PaymentIntent with one of the following statuses may be canceled: ' + ok.join(', ') + '.', { payment_intent: pub(pi) }) };
    }
    pi.status = 'canceled';
    pi.canceled_at = ctx.nowS();
    pi.cancellation_reason = p.cancellation_reason || null;
    pi.next_action = null;
    ctx.stats.cancels++;
    event('payment_intent.canceled', pi, reqId, key);
    return { status: 200, body: pub(pi) };
  }

  function refund(p, key, reqId) {
    let ch = null;
    if (p.payment_intent) {
      const pi = intents.get(p.payment_intent);
      if (!pi) return { status: 400, body: errBody('invalid_request_error', 'resource_missing', "No such payment_intent: '" + p.payment_intent + "'", { param: 'payment_intent' }) };
      if (pi.status !== 'succeeded') return { status: 400, body: errBody('invalid_request_error', null, 'This PaymentIntent does not have a successful charge to refund.', { param: 'payment_intent' }) };
      ch = charges.get(pi.latest_charge);
    } else {
      ch = charges.get(p.charge);
      if (!ch) return { status: 400, body: errBody('invalid_request_error', 'resource_missing', "No such charge: '" + p.charge + "'", { param: 'charge' }) };
    }
    if (ch.status !== 'succeeded') return { status: 400, body: errBody('invalid_request_error', null, 'Charge ' + ch.id + ' has not succeeded.', { param: 'charge' }) };
    if (ch.disputed) return { status: 400, body: errBody('invalid_request_error', 'charge_disputed', 'Charge ' + ch.id + ' has been charged back; cannot issue a refund.') };
    const left = ch.amount - ch.amount_refunded;
    if (left === 0) return { status: 400, body: errBody('invalid_request_error', 'charge_already_refunded', 'Charge ' + ch.id + ' has already been refunded.') };
    const amount = p.amount === undefined ? left : Number(p.amount);
    if (amount < 1 || amount > left) {
      return { status: 400, body: errBody('invalid_request_error', 'amount_too_large', 'Refund amount (' + amount + ') is greater than unrefunded amount on charge (' + left + ')', { param: 'amount' }) };
    }
    const chk = checkAmount(amount, ch.currency, 'amount');
    if (chk) return { status: 400, body: chk };
    const re = {
      id: ctx.rid('re_'), object: 'refund', amount, charge: ch.id, created: ctx.nowS(), currency: ch.currency,
      metadata: typeof p.metadata === 'object' ? p.metadata : {}, payment_intent: ch.payment_intent,
      reason: p.reason || null, status: 'succeeded',
    };
    refunds.set(re.id, re);
    ch.amount_refunded += amount;
    ch.refunded = ch.amount_refunded === ch.amount;
    ctx.recordRefund(ch.id, { provider: 'stripe', refund_id: re.id, amount, currency: upper(ch.currency), key: key || null });
    event('charge.refunded', ch, reqId, key);
    return { status: 200, body: pub(re) };
  }

  // Stripe's search query language, the part that applies to PaymentIntents
  // (docs.stripe.com/search): clauses joined by AND or by OR (not both),
  // `field:'value'`, `metadata['key']:'value'`, `-` to negate, amount and
  // created with > < >= <= too.
  function parseQuery(q) {
    const clauses = [];
    let joiner = null, rest = q.trim();
    const re = /^(-?)(metadata\[(?:'([^']*)'|"([^"]*)")\]|[a-z_]+)\s*(:|>=|<=|>|<)\s*(?:'([^']*)'|"([^"]*)"|([0-9]+))\s*/;
    while (rest.length) {
      const m = re.exec(rest);
      if (!m) return null;
      const field = m[3] !== undefined || m[4] !== undefined ? 'metadata' : m[2];
      if (!['metadata', 'status', 'currency', 'customer', 'amount', 'created'].includes(field)) return null;
      clauses.push({ neg: m[1] === '-', field, key: m[3] !== undefined ? m[3] : m[4], op: m[5], value: m[6] !== undefined ? m[6] : m[7] !== undefined ? m[7] : m[8] });
      rest = rest.slice(m[0].length);
      if (!rest.length) break;
      const j = /^(AND|OR)\s+/.exec(rest);
      if (!j || (joiner && joiner !== j[1])) return null;
      joiner = j[1];
      rest = rest.slice(j[0].length);
    }
    return clauses.length ? { clauses, joiner: joiner || 'AND' } : null;
  }

  function matches(pi, q) {
    const one = (c) => {
      let v;
      if (c.field === 'metadata') v = pi.metadata[c.key];
      else v = pi[c.field];
      let r;
      if (c.op === ':') r = v !== undefined && v !== null && String(v) === c.value;
      else {
        const a = Number(v), b = Number(c.value);
        r = c.op === '>' ? a > b : c.op === '<' ? a < b : c.op === '>=' ? a >= b : a <= b;
      }
      return c.neg ? !r : r;
    };
    return q.joiner === 'AND' ? q.clauses.every(one) : q.clauses.some(one);
  }

  function search(p) {
    ctx.stats.searches++;
    const q = parseQuery(p.query);
    if (!q) return { status: 400, body: errBody('invalid_request_error', null, "We were unable to parse your search query. Try using the format `metadata['key']:'value'`.", { param: 'query' }) };
    const limit = p.limit === undefined ? 10 : Number(p.limit);
    if (limit < 1 || limit > 100) return { status: 400, body: errBody('invalid_request_error', null, 'Invalid limit: must be between 1 and 100', { param: 'limit' }) };
    const now = ctx.now();
    const all = [...intents.values()].filter((pi) => pi._searchable_ms <= now && matches(pi, q))
      .sort((a, b) => b._created_ms - a._created_ms);
    const from = p.page ? Number(Buffer.from(p.page, 'base64').toString()) || 0 : 0;
    const data = all.slice(from, from + limit).map(pub);
    const more = from + limit < all.length;
    const body = { object: 'search_result', data, has_more: more, next_page: more ? Buffer.from(String(from + limit)).toString('base64') : null, url: '/v1/payment_intents/search' };
    if ((p.expand || []).includes('total_count')) body.total_count = all.length;
    return { status: 200, body };
  }

  // ---- the request pipeline -------------------------------------------------------

  function apiKey(req) {
    const a = req.headers.authorization || '';
    if (a.startsWith('Bearer ')) return a.slice(7);
    if (a.startsWith('Basic ')) return Buffer.from(a.slice(6), 'base64').toString().replace(/:.*$/, '');
    return null;
  }

  function handle(req, res, path, query, raw) {
    const reqId = 'req_' + ctx.rid('', 7);
    const key = req.headers['idempotency-key'];
    const H = { 'Request-Id': reqId, 'Stripe-Version': API_VERSION };
    if (key) H['Idempotency-Key'] = key;
    const log = { provider: 'stripe', method: req.method, path, key: key || null, request_id: reqId };
    const reply = (status, body, extra = {}, after = 'none', done = null) => {
      log.status = status;
      ctx.send(res, status, body, Object.assign({}, H, extra), after, done);
    };
    let params = {};
    try {
      params = req.method === 'GET' ? fromQuery(query) : parseForm(raw);
    } catch (e) {
      ctx.logRequest(log);
      return reply(400, errBody('invalid_request_error', null, e.message, { param: e.param }));
    }
    log.params = params;
    ctx.logRequest(log);

    // Authentication runs before anything else.
    const k = apiKey(req);
    if (!k) return reply(401, errBody('invalid_request_error', null, 'You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. \'Authorization: Bearer YOUR_SECRET_KEY\').'));
    const publishable = k.startsWith('pk_test_') || k.startsWith('pk_live_');
    const secret = /^(sk|rk)_(test|live)_/.test(k) && (!ctx.stripeKeys || ctx.stripeKeys.includes(k));
    if (!secret && !publishable) return reply(401, errBody('invalid_request_error', 'api_key_invalid', 'Invalid API Key provided: ' + k.slice(0, 8) + '****' + k.slice(-4)));

    const fault = ctx.takeFault(req.method, path);
    log.fault = fault;
    if (fault === '401') return reply(401, errBody('invalid_request_error', 'api_key_invalid', 'Invalid API Key provided: ' + k.slice(0, 8) + '****' + k.slice(-4)));
    if (fault === '403') return reply(403, errBody('invalid_request_error', 'secret_key_required', 'The provided key does not have the required permissions for this endpoint.'));
    if (fault === '429') return reply(429, errBody('invalid_request_error', 'rate_limit', 'Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.'), { 'Retry-After': String(ctx.retryAfterS), 'Stripe-Should-Retry': 'true' });
    if (fault === '500_unsaved') return reply(500, errBody('api_error', null, 'Something went wrong on our end. Please try again later.'));
    if (fault === 'lock_timeout') return reply(409, errBody('invalid_request_error', 'lock_timeout', 'This object cannot be accessed right now because another API request or Stripe process is currently accessing it. If you see this error intermittently, retry the request.'), { 'Stripe-Should-Retry': 'true' });
    if (fault === 'drop_before') { res.socket.destroy(); return; }
    const after = fault === 'drop_after_charge' || fault === 'slow' ? fault : 'none';

    const ver = req.headers['stripe-version'];
    if (ver && ver !== API_VERSION) return reply(400, errBody('invalid_request_error', null, 'Invalid Stripe API version: ' + ver + '.'));

    // Routing.
    let m, route = null, spec = null, target = null;
    if (req.method === 'POST' && path === '/v1/payment_intents') { route = 'create'; spec = T.PI_CREATE; }
    else if (req.method === 'GET' && path === '/v1/payment_intents/search') { route = 'search'; spec = T.PI_SEARCH; }
    else if (req.method === 'GET' && (m = /^\/v1\/payment_intents\/([^/]+)$/.exec(path))) { route = 'retrieve'; spec = T.PI_RETRIEVE; target = m[1]; }
    else if (req.method === 'POST' && (m = /^\/v1\/payment_intents\/([^/]+)\/confirm$/.exec(path))) { route = 'confirm'; spec = T.PI_CONFIRM; target = m[1]; }
    else if (req.method === 'POST' && (m = /^\/v1\/payment_intents\/([^/]+)\/cancel$/.exec(path))) { route = 'cancel'; spec = T.PI_CANCEL; target = m[1]; }
    else if (req.method === 'POST' && path === '/v1/refunds') { route = 'refund'; spec = T.REFUND_CREATE; }
    else if (req.method === 'GET' && (m = /^\/v1\/(refunds|charges)\/([^/]+)$/.exec(path))) { route = m[1]; spec = { required: [], params: { expand: { k: 'a' } } }; target = m[2]; }
    if (!route) {
      return reply(404, errBody('invalid_request_error', null, 'Unrecognized request URL (' + req.method + ': ' + path + '). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.'));
    }
    // A publishable key may only confirm or read an intent with its client secret.
    if (!secret) {
      const pi = target && intents.get(target);
      if (!['confirm', 'retrieve'].includes(route) || !pi || params.client_secret !== pi.client_secret) {
        return reply(401, errBody('invalid_request_error', null, 'This API call cannot be made with a publishable API key. Please use a secret API key.'));
      }
    }
    const invalid = validate(spec, params) || precheck(route, params);
    if (invalid) { ctx.stats.validation_errors++; return reply(400, invalid); }

    const missing = (what, id) => ({ status: 404, body: errBody('invalid_request_error', 'resource_missing', 'No such ' + what + ": '" + id + "'", { param: what === 'payment_intent' ? 'intent' : what }) });
    const exec = () => {
      const pi = target ? intents.get(target) : null;
      switch (route) {
      case 'create': return create(params, key, reqId, fault);
      case 'confirm': return pi ? confirm(pi, params, key || pi._key, reqId, fault) : missing('payment_intent', target);
      case 'cancel': return pi ? cancel(pi, params, key, reqId) : missing('payment_intent', target);
      case 'refund': return refund(params, key, reqId);
      case 'retrieve': return pi ? { status: 200, body: pub(pi) } : missing('payment_intent', target);
      case 'search': return search(params);
      case 'refunds': return refunds.has(target) ? { status: 200, body: pub(refunds.get(target)) } : missing('refund', target);
      case 'charges': return charges.has(target) ? { status: 200, body: pub(charges.get(target)) } : missing('charge', target);
      }
      return null;
    };
    if (req.method === 'GET' || !key) {
      if (fault === '500_saved' || fault === '424') return reply(fault === '424' ? 424 : 500, errBody('api_error', null, 'Something went wrong on our end.'));
      const r = exec();
      if (fault === '500_after_charge') return reply(500, errBody('api_error', null, 'Something went wrong on our end.'));
      return reply(r.status, r.body, r.headers || {}, after);
    }

    // POST with an Idempotency-Key.
    const ik = k + '|' + key;
    let saved = idem.get(ik);
    if (saved && !saved.inflight && saved.created_ms + T.STRIPE_KEY_TTL_MS <= ctx.now()) {
      idem.delete(ik);
      ctx.stats.keys_expired++;
      ctx.stats.expired_key_reuses++;
      saved = null;
    }
    const fp = canon(params);
    if (saved) {
      if (saved.inflight) {
        return reply(409, errBody('invalid_request_error', 'idempotency_key_in_use', 'There is currently another in-progress request using this Stripe-Idempotency-Key. Please try again later.'), { 'Stripe-Should-Retry': 'true' });
      }
      if (saved.method !== req.method || saved.path !== path || saved.fp !== fp) {
        return reply(400, errBody('idempotency_error', null, "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '" + key + "' if you meant to execute a different request."));
      }
      ctx.stats.replays++;
      log.replayed = true;
      return reply(saved.status, saved.body, Object.assign({ 'Idempotent-Replayed': 'true', 'Original-Request': saved.request_id }, saved.headers), after);
    }
    // Execution begins: from here the outcome is saved under the key.
    const entry = { inflight: true, method: req.method, path, fp, request_id: reqId, created_ms: ctx.now() };
    idem.set(ik, entry);
    ctx.stats.keys_saved++;
    let r;
    if (fault === '500_saved' || fault === '424') {
      r = { status: fault === '424' ? 424 : 500, body: errBody('api_error', null, fault === '424' ? 'The request could not be completed due to a failure in a dependency external to Stripe.' : 'Something went wrong on our end.') };
    } else {
      r = exec();
      if (fault === '500_after_charge') r = { status: 500, body: errBody('api_error', null, 'Something went wrong on our end.') };
    }
    Object.assign(entry, { status: r.status, body: r.body, headers: r.headers || {} });
    return reply(r.status, r.body, r.headers || {}, after, () => { entry.inflight = false; });
  }

  // ---- control ------------------------------------------------------------------

  function control(c) {
    const out = {};
    if (c.authenticate) {
      // The buyer finishes (or fails) 3-D Secure in the browser.
      const pi = intents.get(c.authenticate);
      if (!pi || pi.status !== 'requires_action') return { authenticated: false };
      if (c.auth_result === 'failure') {
        pi.payment_method = pi.payment_method || null;
        fail(pi, { type: 'invalid_request_error', code: 'payment_intent_authentication_failure', message: 'The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.' }, null, pi._key);
      } else {
        succeed(pi, pi._key, null);
      }
      out.authenticated = true;
      out.status = pi.status;
    }
    if (c.dispute) {
      let ch = charges.get(c.dispute);
      if (!ch && intents.has(c.dispute)) ch = charges.get(intents.get(c.dispute).latest_charge);
      if (ch && ch.status === 'succeeded' && !ch.disputed) {
        const dp = {
          id: ctx.rid('dp_'), object: 'dispute', amount: ch.amount - ch.amount_refunded, charge: ch.id,
          created: ctx.nowS(), currency: ch.currency, is_charge_refundable: false, livemode: false,
          metadata: {}, payment_intent: ch.payment_intent, reason: c.reason || 'fraudulent', status: 'needs_response',
        };
        disputes.set(dp.id, dp);
        ch.disputed = true;
        const cap = ctx.findCapture(ch.id);
        if (cap) cap.disputed = true;
        ctx.ledger.disputes.push({ provider: 'stripe', dispute_id: dp.id, capture_id: ch.id, payment_id: ch.payment_intent, amount: dp.amount, currency: upper(dp.currency) });
        ctx.stats.disputes++;
        event('charge.dispute.created', dp, null, null);
        out.dispute = dp.id;
      }
    }
    return out;
  }

  function prune() {
    const now = ctx.now();
    for (const [k, e] of idem) {
      if (!e.inflight && e.created_ms + T.STRIPE_KEY_TTL_MS <= now) { idem.delete(k); ctx.stats.keys_expired++; }
    }
  }

  const counts = () => ({ intents: intents.size, stripe_keys_stored: idem.size });

  return { handle, control, prune, reset, counts };
};
