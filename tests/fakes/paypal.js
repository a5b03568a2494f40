'use strict';
// PayPal Orders v2, Payments v2 (captures, refunds) and the webhook
// verification call, as paypal/paypal-rest-api-specifications describes
// them (tables in spec_tables.js):
//
//   POST /v1/oauth2/token                          client credentials (Basic)
//   POST /v2/checkout/orders                       orders.create
//   GET  /v2/checkout/orders/{id}                  orders.get
//   POST /v2/checkout/orders/{id}/capture          orders.capture
//   GET  /v2/payments/captures/{capture_id}        captures.get
//   POST /v2/payments/captures/{capture_id}/refund captures.refund
//   GET  /v2/payments/refunds/{refund_id}          refunds.get
//   POST /v1/notifications/verify-webhook-signature (notifications_webhooks_v1.json)
//
// PayPal-Request-Id: "The server stores keys for 6 hours" (orders.create,
// orders.capture; refunds 45 days). A repeated id answers "the latest
// status of the previous request" (developer.paypal.com/reference/
// guidelines/idempotency): the stored result of a request that completed
// (HTTP 200 instead of 201: orders.capture 201 description), while one that
// failed (4xx, or a 5xx: "retry ... calls that fail with network timeouts
// or HTTP 5xx") runs again. After the window the same id executes again, so
// a replayed create makes a second PayPal order.
//
// An order with payment_source.paypal (experience_context return_url /
// cancel_url) starts PAYER_ACTION_REQUIRED with a `payer-action` link; one
// without starts CREATED with an `approve` link. Capture answers 422
// ORDER_NOT_APPROVED before approval, 422 PAYER_ACTION_REQUIRED or 422
// INSTRUMENT_DECLINED (with a `redirect` link: send the buyer back) when
// the control says so, and 422 ORDER_ALREADY_CAPTURED after a capture.
const crypto = require('crypto');
const T = require('./spec_tables');

module.exports = (ctx) => {
  let orders, captures, refunds, reqIds, tokens;
  const reset = () => {
    orders = new Map(); captures = new Map(); refunds = new Map(); reqIds = new Map(); tokens = new Map();
  };
  reset();

  const ppid = () => crypto.randomBytes(9).toString('hex').toUpperCase().slice(0, 17);
  const iso = () => new Date(ctx.now()).toISOString().replace(/\.\d+Z$/, 'Z');
  const exponent = (cur) => (T.PAYPAL_ZERO_DECIMAL.includes(cur) ? 0 : 2);
  function toMinor(value, cur) {
    const e = exponent(cur);
    const [i, f = ''] = String(value).split('.');
    return Number(i + f.padEnd(e, '0').slice(0, e));
  }
  function fromMinor(n, cur) {
    const e = exponent(cur);
    if (!e) return String(n);
    const s = String(n).padStart(e + 1, '0');
    return s.slice(0, -e) + '.' + s.slice(-e);
  }

  const info = (issue) => ({ href: 'https://developer.paypal.com/docs/api/orders/v2/#error-' + issue, rel: 'information_link', method: 'GET' });
  function err(name, message, issue, field, description, links = []) {
    const b = { name, message, debug_id: ctx.rid('', 7) };
    if (issue) {
      const d = { issue, description: description || message };
      if (field) { d.field = field; d.location = 'body'; }
      b.details = [d];
      b.links = [info(issue)].concat(links);
    }
    return b;
  }
  const E400 = (issue, field, desc) => ({ status: 400, body: err('INVALID_REQUEST', 'Request is not well-formed, syntactically incorrect, or violates schema.', issue, field, desc) });
  const E422 = (issue, field, desc, links) => ({ status: 422, body: err('UNPROCESSABLE_ENTITY', 'The requested action could not be performed, semantically incorrect, or failed business validation.', issue, field, desc, links) });
  const E404 = () => ({ status: 404, body: err('RESOURCE_NOT_FOUND', 'The specified resource does not exist.', 'INVALID_RESOURCE_ID', null, 'Specified resource ID does not exist. Please check the resource ID and try again.') });

  // Unknown members of a request object -> 400 (the fake is strict so a
  // misspelt field in billingd's requests cannot go unnoticed).
  function unknownKeys(o, allowed, where) {
    if (o === null || typeof o !== 'object' || Array.isArray(o)) return E400('INVALID_PARAMETER_SYNTAX', where, 'The value of a field does not conform to the expected format.');
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) return E400('INVALID_PARAMETER_SYNTAX', where + '/' + k, 'Unknown field ' + k + '.');
    }
    return null;
  }
  const isUrl = (s) => typeof s === 'string' && /^https?:\/\/[^\s/]+/.test(s) && s.length <= 4000;

  // money (checkout_orders_v2.json components.schemas.money) in a currency
  // of PayPal's table with its decimals.
  function checkMoney(a, where) {
    const u = unknownKeys(a, T.PP_AMOUNT, where);
    if (u) return u;
    if (!a.currency_code) return E400('MISSING_REQUIRED_PARAMETER', where + '/currency_code', 'A required field / parameter is missing.');
    if (a.value === undefined) return E400('MISSING_REQUIRED_PARAMETER', where + '/value', 'A required field / parameter is missing.');
    if (typeof a.value !== 'string' || !T.PP_VALUE_PATTERN.test(a.value) || a.value.length > 32) {
      return E400('INVALID_PARAMETER_SYNTAX', where + '/value', 'The value of a field does not conform to the expected format.');
    }
    if (typeof a.currency_code !== 'string' || a.currency_code.length !== 3) return E400('INVALID_PARAMETER_SYNTAX', where + '/currency_code');
    if (!T.PAYPAL_CURRENCIES.includes(a.currency_code)) {
      return E422('INVALID_CURRENCY_CODE', where + '/currency_code', 'Currency code is invalid or is not currently supported. Please refer https://developer.paypal.com/api/rest/reference/currency-codes/ for list of supported currency codes.');
    }
    const frac = (a.value.split('.')[1] || '');
    if (frac.length > exponent(a.currency_code)) {
      return E422('DECIMAL_PRECISION', where + '/value', 'If the currency supports decimals, only two decimal place precision is supported.');
    }
    if (Number(a.value) <= 0) return E422('CANNOT_BE_ZERO_OR_NEGATIVE', where + '/value', 'Must be greater than zero.');
    return null;
  }

  function checkCreate(b) {
    if (!b) return E400('MALFORMED_REQUEST_JSON', '/', 'The request JSON is not well formed.');
    let u = unknownKeys(b, T.PP_ORDER_REQUEST, '');
    if (u) return u;
    if (!b.intent) return E400('MISSING_REQUIRED_PARAMETER', '/intent', 'A required field / parameter is missing.');
    if (!['CAPTURE', 'AUTHORIZE'].includes(b.intent)) return E400('INVALID_PARAMETER_VALUE', '/intent', 'The value of a field is invalid.');
    if (!Array.isArray(b.purchase_units)) return E400('MISSING_REQUIRED_PARAMETER', '/purchase_units', 'A required field / parameter is missing.');
    if (b.purchase_units.length < 1) return E400('INVALID_ARRAY_MIN_ITEMS', '/purchase_units');
    if (b.purchase_units.length > 10) return E400('INVALID_ARRAY_MAX_ITEMS', '/purchase_units');
    for (let i = 0; i < b.purchase_units.length; i++) {
      const pu = b.purchase_units[i];
      const where = "/purchase_units/@reference_id=='" + ((pu && pu.reference_id) || 'default') + "'";
      if ((u = unknownKeys(pu, T.PP_PURCHASE_UNIT, where))) return u;
      if (!pu.amount) return E400('MISSING_REQUIRED_PARAMETER', where + '/amount', 'A required field / parameter is missing.');
      if ((u = checkMoney(pu.amount, where + '/amount'))) return u;
      if (pu.custom_id !== undefined && (typeof pu.custom_id !== 'string' || pu.custom_id.length < 1 || pu.custom_id.length > 127)) return E400('INVALID_STRING_LENGTH', where + '/custom_id');
      if (pu.reference_id !== undefined && (typeof pu.reference_id !== 'string' || pu.reference_id.length > 256)) return E400('INVALID_STRING_LENGTH', where + '/reference_id');
      if (pu.invoice_id !== undefined && (typeof pu.invoice_id !== 'string' || pu.invoice_id.length > 127)) return E400('INVALID_STRING_LENGTH', where + '/invoice_id');
    }
    if (b.payment_source !== undefined) {
      if ((u = unknownKeys(b.payment_source, T.PP_PAYMENT_SOURCE, '/payment_source'))) return u;
      const w = b.payment_source.paypal;
      if (w !== undefined) {
        if ((u = unknownKeys(w, T.PP_WALLET, '/payment_source/paypal'))) return u;
        const x = w.experience_context;
        if (x !== undefined && (u = checkExperience(x, T.PP_EXPERIENCE, '/payment_source/paypal/experience_context'))) return u;
      }
    }
    if (b.application_context !== undefined && (u = checkExperience(b.application_context, T.PP_APP_CONTEXT, '/application_context'))) return u;
    return null;
  }

  function checkExperience(x, allowed, where) {
    const u = unknownKeys(x, allowed, where);
    if (u) return u;
    for (const k of ['return_url', 'cancel_url']) {
      if (x[k] !== undefined && !isUrl(x[k])) return E400('INVALID_PARAMETER_SYNTAX', where + '/' + k, 'The value of a field does not conform to the expected format.');
    }
    if (x.user_action !== undefined && !['CONTINUE', 'PAY_NOW'].includes(x.user_action)) return E400('INVALID_PARAMETER_VALUE', where + '/user_action');
    if (x.landing_page !== undefined && !['LOGIN', 'GUEST_CHECKOUT', 'NO_PREFERENCE', 'BILLING'].includes(x.landing_page)) return E400('INVALID_PARAMETER_VALUE', where + '/landing_page');
    if (x.shipping_preference !== undefined && !['GET_FROM_FILE', 'NO_SHIPPING', 'SET_PROVIDED_ADDRESS'].includes(x.shipping_preference)) return E400('INVALID_PARAMETER_VALUE', where + '/shipping_preference');
    return null;
  }

  const self = (path) => ctx.base + path;
  const checkout = (id) => 'https://www.sandbox.paypal.com/checkoutnow?token=' + id;

  function orderLinks(o) {
    const l = [{ href: self('/v2/checkout/orders/' + o.id), rel: 'self', method: 'GET' }];
    if (o.status === 'CREATED') l.push({ href: checkout(o.id), rel: 'approve', method: 'GET' });
    if (o.status === 'PAYER_ACTION_REQUIRED') l.push({ href: checkout(o.id), rel: 'payer-action', method: 'GET' });
    if (o.status !== 'COMPLETED' && o.status !== 'VOIDED') {
      l.push({ href: self('/v2/checkout/orders/' + o.id), rel: 'update', method: 'PATCH' });
      l.push({ href: self('/v2/checkout/orders/' + o.id + '/capture'), rel: 'capture', method: 'POST' });
    }
    return l;
  }

  function view(o, minimal) {
    const links = orderLinks(o);
    if (minimal) return { id: o.id, status: o.status, links };
    const pus = o.purchase_units.map((pu) => {
      const c = Object.assign({}, pu);
      if (o._capture) c.payments = { captures: [capView(captures.get(o._capture))] };
      return c;
    });
    const v = { id: o.id, intent: o.intent, status: o.status, purchase_units: pus, create_time: o.create_time, links };
    if (o.update_time) v.update_time = o.update_time;
    if (o.payment_source) v.payment_source = o.payment_source;
    if (o.payer) v.payer = o.payer;
    return v;
  }

  function capView(c) {
    const v = Object.assign({}, c);
    for (const k of Object.keys(v)) if (k.startsWith('_')) delete v[k];
    v.links = [
      { href: self('/v2/payments/captures/' + c.id), rel: 'self', method: 'GET' },
      { href: self('/v2/payments/captures/' + c.id + '/refund'), rel: 'refund', method: 'POST' },
      { href: self('/v2/checkout/orders/' + c._order), rel: 'up', method: 'GET' },
    ];
    return v;
  }

  function refundView(r) {
    const v = Object.assign({}, r);
    delete v._capture;
    v.links = [
      { href: self('/v2/payments/refunds/' + r.id), rel: 'self', method: 'GET' },
      { href: self('/v2/payments/captures/' + r._capture), rel: 'up', method: 'GET' },
    ];
    return v;
  }

  const event = (type, rtype, resource, summary) => ctx.webhooks.paypal(type, rtype, resource, summary);

  function create(b, minimal) {
    const id = ppid();
    const pus = b.purchase_units.map((pu) => Object.assign({ reference_id: pu.reference_id || 'default' }, pu));
    const x = (b.payment_source && b.payment_source.paypal && b.payment_source.paypal.experience_context) || b.application_context || {};
    const o = {
      id, intent: b.intent, status: b.payment_source && b.payment_source.paypal ? 'PAYER_ACTION_REQUIRED' : 'CREATED',
      purchase_units: pus, create_time: iso(), payment_source: b.payment_source ? { paypal: {} } : undefined,
      _return_url: x.return_url || null, _cancel_url: x.cancel_url || null,
    };
    orders.set(id, o);
    return { status: 201, body: view(o, minimal) };
  }

  function capture(o, reqId, fault, minimal) {
    if (o.status === 'COMPLETED') return E422('ORDER_ALREADY_CAPTURED', null, 'Order already captured.If \'intent=CAPTURE\' only one capture per order is allowed.');
    if (o.status === 'VOIDED') return E422('ORDER_COMPLETED_OR_VOIDED', null, 'Order is voided or completed and hence cannot be processed.');
    if (o.status === 'PAYER_ACTION_REQUIRED') {
      return E422('PAYER_ACTION_REQUIRED', null, 'Payer needs to perform the following action before proceeding with payment.', [{ href: checkout(o.id), rel: 'payer-action', method: 'GET' }]);
    }
    if (o.status !== 'APPROVED') return E422('ORDER_NOT_APPROVED', null, 'Payer has not yet approved the Order for payment. Please redirect the payer to the \'rel\':\'approve\' url returned as part of the HATEOAS links within the Create Order call or provide a valid payment_source in the request.');
    if (o._payer_action_next) {
      o._payer_action_next = false;
      o.status = 'PAYER_ACTION_REQUIRED';
      return E422('PAYER_ACTION_REQUIRED', null, 'Payer needs to perform the following action before proceeding with payment.', [{ href: checkout(o.id), rel: 'payer-action', method: 'GET' }]);
    }
    if (fault === 'decline' || o._decline_next) {
      o._decline_next = false;
      o.status = 'PAYER_ACTION_REQUIRED';
      return E422('INSTRUMENT_DECLINED', null, 'The instrument presented was either declined by the processor or bank, or it can\'t be used for this payment.', [{ href: checkout(o.id), rel: 'redirect', method: 'GET' }]);
    }
    const pu = o.purchase_units[0];
    const pending = !!o._pending_next;
    const c = {
      id: ppid(), status: pending ? 'PENDING' : 'COMPLETED', amount: pu.amount, final_capture: true,
      seller_protection: { status: 'ELIGIBLE', dispute_categories: ['ITEM_NOT_RECEIVED', 'UNAUTHORIZED_TRANSACTION'] },
      create_time: iso(), update_time: iso(), _order: o.id, _key: reqId || o.id, _refunded: 0,
    };
    if (pending) c.status_details = { reason: 'PENDING_REVIEW' };
    if (pu.custom_id) c.custom_id = pu.custom_id;
    if (pu.invoice_id) c.invoice_id = pu.invoice_id;
    captures.set(c.id, c);
    o._capture = c.id;
    o.status = 'COMPLETED';
    o.update_time = iso();
    if (!pending) settled(c);
    return { status: 201, body: view(o, minimal) };
  }

  // A capture's money arriving (at once, or when a PENDING one clears).
  function settled(c) {
    const o = orders.get(c._order);
    ctx.recordCapture({
      provider: 'paypal', capture_id: c.id, payment_id: c._order, order_id: c.custom_id || null, key: c._key,
      amount: toMinor(c.amount.value, c.amount.currency_code), currency: c.amount.currency_code,
    });
    const r = capView(c);
    r.supplementary_data = { related_ids: { order_id: o.id } };
    event('PAYMENT.CAPTURE.COMPLETED', 'capture', r, 'Payment completed for ' + c.amount.currency_code + ' ' + c.amount.value);
  }

  function refund(c, b, reqId) {
    const u = unknownKeys(b, T.PP_REFUND_REQUEST, '');
    if (u) return u;
    if (c.status === 'PENDING') return E422('PENDING_CAPTURE', null, 'Cannot initiate a refund as the capture is pending.');
    if (!['COMPLETED', 'PARTIALLY_REFUNDED'].includes(c.status)) return E422('CAPTURE_FULLY_REFUNDED', null, 'The capture has already been fully refunded.');
    const cur = c.amount.currency_code;
    const total = toMinor(c.amount.value, cur);
    const left = total - c._refunded;
    let amount = left;
    if (b.amount !== undefined) {
      const m = checkMoney(b.amount, '/amount');
      if (m) return m;
      if (b.amount.currency_code !== cur) return E422('REFUND_CAPTURE_CURRENCY_MISMATCH', '/amount/currency_code', 'Refund must be in the same currency as the capture.');
      amount = toMinor(b.amount.value, cur);
      if (amount > left) return E422('REFUND_AMOUNT_EXCEEDED', '/amount/value', 'The refund amount must be less than or equal to the capture amount that has not yet been refunded.');
    }
    const r = {
      id: ppid(), status: 'COMPLETED', amount: { currency_code: cur, value: fromMinor(amount, cur) },
      create_time: iso(), update_time: iso(), _capture: c.id,
    };
    if (b.note_to_payer) r.note_to_payer = b.note_to_payer;
    if (b.invoice_id) r.invoice_id = b.invoice_id;
    if (c.custom_id) r.custom_id = c.custom_id;
    refunds.set(r.id, r);
    c._refunded += amount;
    c.status = c._refunded === total ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
    ctx.recordRefund(c.id, { provider: 'paypal', refund_id: r.id, amount, currency: cur, key: reqId || null });
    event('PAYMENT.CAPTURE.REFUNDED', 'refund', refundView(r), 'A ' + cur + ' ' + r.amount.value + ' capture payment was refunded');
    return { status: 201, body: refundView(r) };
  }

  // ---- the request pipeline ---------------------------------------------------

  function handle(req, res, path, query, raw) {
    const debugId = ctx.rid('', 7);
    const reqId = req.headers['paypal-request-id'] || null;
    const log = { provider: 'paypal', method: req.method, path, key: reqId, request_id: debugId };
    const H = { 'Paypal-Debug-Id': debugId };
    const reply = (status, body, extra = {}, after = 'none', done = null) => {
      log.status = status;
      ctx.send(res, status, body, Object.assign({}, H, extra), after, done);
    };
    let body = null;
    if (raw) {
      try { body = JSON.parse(raw); } catch (e) { body = undefined; }
    }
    log.params = body === undefined ? raw : body;
    ctx.logRequest(log);

    if (req.method === 'POST' && path === '/v1/oauth2/token') {
      const a = req.headers.authorization || '';
      const cred = a.startsWith('Basic ') ? Buffer.from(a.slice(6), 'base64').toString() : '';
      if (!cred.includes(':') || (ctx.paypalClient && cred !== ctx.paypalClient) || !/grant_type=client_credentials/.test(raw)) {
        return reply(401, { error: 'invalid_client', error_description: 'Client Authentication failed' });
      }
      const token = 'A21AA' + ctx.rid('', 24);
      tokens.set(token, ctx.now() + 32400 * 1000);
      return reply(200, { scope: 'https://uri.paypal.com/services/payments/payment https://uri.paypal.com/services/checkout/one-click-with-merchant-issued-token', access_token: token, token_type: 'Bearer', app_id: 'APP-80W284485P519543T', expires_in: 32400, nonce: iso() + ctx.rid('', 16) });
    }
    const auth = (req.headers.authorization || '').replace(/^Bearer /, '');
    const exp = tokens.get(auth);
    if (!exp || exp <= ctx.now()) {
      return reply(401, { name: 'AUTHENTICATION_FAILURE', message: 'Authentication failed due to invalid authentication credentials or a missing Authorization header.', links: [{ href: 'https://developer.paypal.com/docs/api/overview/#error', rel: 'information_link' }] });
    }
    const fault = ctx.takeFault(req.method, path);
    log.fault = fault;
    if (fault === '401') return reply(401, { name: 'AUTHENTICATION_FAILURE', message: 'Authentication failed due to invalid authentication credentials or a missing Authorization header.' });
    if (fault === '403') return reply(403, err('NOT_AUTHORIZED', 'Authorization failed due to insufficient permissions.', 'PERMISSION_DENIED', null, 'You do not have permission to access or perform operations on this resource.'));
    if (fault === '429') return reply(429, { name: 'RATE_LIMIT_REACHED', message: 'Too many requests. Blocked due to rate limiting.', debug_id: debugId }, { 'Retry-After': String(ctx.retryAfterS) });
    if (fault === '500_unsaved' || fault === 'lock_timeout') return reply(500, { name: 'INTERNAL_SERVER_ERROR', message: 'An internal server error occurred.', debug_id: debugId });
    if (fault === 'drop_before') { res.socket.destroy(); return; }
    const after = fault === 'drop_after_charge' || fault === 'slow' ? fault : 'none';
    const minimal = !/return=representation/.test(req.headers.prefer || '');

    let m, route = null, target = null, ttl = T.PAYPAL_REQUEST_ID_TTL_MS;
    if (req.method === 'POST' && path === '/v2/checkout/orders') route = 'create';
    else if (req.method === 'GET' && (m = /^\/v2\/checkout\/orders\/([A-Z0-9]+)$/.exec(path))) { route = 'get'; target = m[1]; }
    else if (req.method === 'POST' && (m = /^\/v2\/checkout\/orders\/([A-Z0-9]+)\/capture$/.exec(path))) { route = 'capture'; target = m[1]; }
    else if (req.method === 'GET' && (m = /^\/v2\/payments\/captures\/([A-Z0-9]+)$/.exec(path))) { route = 'capture_get'; target = m[1]; }
    else if (req.method === 'POST' && (m = /^\/v2\/payments\/captures\/([A-Z0-9]+)\/refund$/.exec(path))) { route = 'refund'; target = m[1]; ttl = T.PAYPAL_REFUND_REQUEST_ID_TTL_MS; }
    else if (req.method === 'GET' && (m = /^\/v2\/payments\/refunds\/([A-Z0-9]+)$/.exec(path))) { route = 'refund_get'; target = m[1]; }
    else if (req.method === 'POST' && path === '/v1/notifications/verify-webhook-signature') route = 'verify';
    if (!route) return reply(404, err('RESOURCE_NOT_FOUND', 'The specified resource does not exist.', 'INVALID_RESOURCE_ID', null, 'The requested resource was not found.'));

    if (req.method === 'POST' && body === undefined) {
      return reply(400, err('INVALID_REQUEST', 'Request is not well-formed, syntactically incorrect, or violates schema.', 'MALFORMED_REQUEST_JSON', '/', 'The request JSON is not well formed.'));
    }
    // Validation first: a request that fails it saves nothing.
    let invalid = null;
    if (route === 'create') invalid = checkCreate(body);
    if (route === 'capture' && body) invalid = unknownKeys(body, T.PP_CAPTURE_REQUEST, '');
    if (route === 'verify') {
      for (const f of T.PP_VERIFY_REQUIRED) {
        if (!body || body[f] === undefined) invalid = { status: 400, body: { name: 'VALIDATION_ERROR', message: 'Invalid request - see details', debug_id: debugId, details: [{ field: f, location: 'body', issue: 'MISSING_REQUIRED_PARAMETER' }] } };
      }
    }
    if (invalid) { ctx.stats.validation_errors++; return reply(invalid.status, invalid.body); }

    const exec = () => {
      switch (route) {
      case 'create': return create(body, minimal);
      case 'get': return orders.has(target) ? { status: 200, body: view(orders.get(target), false) } : E404();
      case 'capture': return orders.has(target) ? capture(orders.get(target), reqId, fault, minimal) : E404();
      case 'capture_get': return captures.has(target) ? { status: 200, body: capView(captures.get(target)) } : E404();
      case 'refund': return captures.has(target) ? refund(captures.get(target), body || {}, reqId) : E404();
      case 'refund_get': return refunds.has(target) ? { status: 200, body: refundView(refunds.get(target)) } : E404();
      case 'verify': return { status: 200, body: { verification_status: ctx.webhooks.paypalVerify(body) } };
      }
      return null;
    };
    const e500 = { status: 500, body: { name: 'INTERNAL_SERVER_ERROR', message: 'An internal server error occurred.', debug_id: debugId } };
    if (req.method === 'GET' || !reqId || route === 'verify') {
      if (fault === '500_saved' || fault === '424') return reply(500, e500.body);
      const r = exec();
      if (fault === '500_after_charge') return reply(500, e500.body);
      return reply(r.status, r.body, {}, after);
    }
    const rk = route + '|' + reqId;
    let saved = reqIds.get(rk);
    if (saved && saved.created_ms + saved.ttl <= ctx.now()) {
      reqIds.delete(rk);
      ctx.stats.keys_expired++;
      ctx.stats.expired_key_reuses++;
      saved = null;
    }
    if (saved) {
      if (saved.inflight) return reply(409, err('RESOURCE_CONFLICT', 'The server has detected a conflict while processing this request.', 'PREVIOUS_REQUEST_IN_PROGRESS', null, 'A previous request with the same PayPal-Request-Id is in progress.'));
      ctx.stats.replays++;
      log.replayed = true;
      return reply(saved.status === 201 ? 200 : saved.status, saved.body, {}, after);
    }
    const entry = { inflight: true, created_ms: ctx.now(), ttl };
    reqIds.set(rk, entry);
    let r, sent;
    if (fault === '500_saved' || fault === '424') r = sent = e500;
    else {
      r = sent = exec();
      if (fault === '500_after_charge') sent = e500;
    }
    // "PayPal returns the latest status of the previous request": only a
    // request that completed is answered again; after a failure (4xx, 5xx)
    // the same id runs anew (developer.paypal.com/reference/guidelines/idempotency).
    if (r.status >= 200 && r.status < 300) {
      Object.assign(entry, { status: r.status, body: r.body });
      ctx.stats.keys_saved++;
    }
    return reply(sent.status, sent.body, {}, after, () => {
      entry.inflight = false;
      if (!entry.status) reqIds.delete(rk);
    });
  }

  // ---- control --------------------------------------------------------------------

  function control(c) {
    const out = {};
    if (c.approve) {
      // The buyer approves at PayPal and is sent to return_url.
      const o = orders.get(c.approve);
      if (o && (o.status === 'CREATED' || o.status === 'PAYER_ACTION_REQUIRED')) {
        o.status = 'APPROVED';
        o.update_time = iso();
        o.payer = { name: { given_name: 'John', surname: 'Doe' }, email_address: 'buyer@example.com', payer_id: 'QYR5Z8XDVJNXQ', address: { country_code: 'US' } };
        event('CHECKOUT.ORDER.APPROVED', 'checkout-order', view(o, false), 'An order has been approved by buyer');
        out.approved = true;
        out.redirect = (o._return_url || 'https://example.com/return') + '?token=' + o.id + '&PayerID=' + o.payer.payer_id;
      } else {
        out.approved = false;
      }
    }
    if (c.paypal_decline && orders.has(c.paypal_decline)) { orders.get(c.paypal_decline)._decline_next = true; out.decline_armed = true; }
    if (c.paypal_payer_action && orders.has(c.paypal_payer_action)) { orders.get(c.paypal_payer_action)._payer_action_next = true; out.payer_action_armed = true; }
    if (c.capture_pending && orders.has(c.capture_pending)) { orders.get(c.capture_pending)._pending_next = true; out.pending_armed = true; }
    if (c.void && orders.has(c.void)) {
      const o = orders.get(c.void);
      if (o.status !== 'COMPLETED') { o.status = 'VOIDED'; out.voided = true; }
    }
    if (c.settle_capture && captures.has(c.settle_capture)) {
      const cap = captures.get(c.settle_capture);
      if (cap.status === 'PENDING') {
        delete cap.status_details;
        cap.update_time = iso();
        if (c.capture_status === 'DECLINED') {
          cap.status = 'DECLINED';
          const r = capView(cap);
          r.supplementary_data = { related_ids: { order_id: cap._order } };
          event('PAYMENT.CAPTURE.DENIED', 'capture', r, 'A ' + cap.amount.currency_code + ' ' + cap.amount.value + ' capture payment was denied');
        } else {
          cap.status = 'COMPLETED';
          settled(cap);
        }
        out.capture_status = cap.status;
      }
    }
    return out;
  }

  function prune() {
    const now = ctx.now();
    for (const [k, e] of reqIds) {
      if (!e.inflight && e.created_ms + e.ttl <= now) { reqIds.delete(k); ctx.stats.keys_expired++; }
    }
  }

  const counts = () => ({ paypal_orders: orders.size, paypal_request_ids_stored: reqIds.size });

  return { handle, control, prune, reset, counts, toMinor };
};
