'use strict';
// Webhook deliveries from the fake to billingd.
//
// Stripe (docs.stripe.com/webhooks#verify-manually): an Event object
// (spec3.yaml components.schemas.event) POSTed as JSON with
//   Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>[,v1=...][,v0=...]
// one v1 per active endpoint secret (two while a secret is being rolled),
// and a v0 signature verifiers must ignore. t is the fake's clock.
//
// PayPal (notifications_webhooks_v1.json): an event with the
// PAYPAL-TRANSMISSION-ID, -TRANSMISSION-TIME, -TRANSMISSION-SIG, -CERT-URL
// and -AUTH-ALGO headers; the receiver verifies it by POSTing those and the
// event to /v1/notifications/verify-webhook-signature, which answers
// SUCCESS only for a transmission this fake sent, with the same webhook id,
// signature and event.
//
// Delivery faults (configure {"duplicate": p, "reorder": p, "drop": p}):
// an event is sent twice, held back and sent after later events, or never
// sent (billingd must then learn the outcome by polling). A delivery that
// is not answered 2xx is retried (as both providers do) a few times.
const http = require('http');
const crypto = require('crypto');

module.exports = (ctx, init) => {
  let cfg, events, held, transmissions, c, inflight;
  const reset = () => {
    cfg = {
      stripe_url: init.stripeUrl || null, stripe_secrets: init.stripeSecret ? [init.stripeSecret] : [],
      paypal_url: init.paypalUrl || null, paypal_webhook_id: init.paypalWebhookId || 'WH0FAKE0000000000',
      duplicate: 0, reorder: 0, drop: 0, reorder_delay_ms: 300, retries: 3, retry_ms: 200,
      tamper: false, timestamp_skew_s: 0,
    };
    events = [];
    held = [];
    transmissions = new Map();
    inflight = 0;
    c = { events: 0, deliveries: 0, delivered: 0, failed: 0, retried: 0, duplicated: 0, reordered: 0, dropped: 0, rejected: 0 };
  };
  reset();

  function configure(x) {
    for (const k of Object.keys(cfg)) if (x[k] !== undefined) cfg[k] = x[k];
    if (x.stripe_secret !== undefined) cfg.stripe_secrets = [x.stripe_secret];
  }

  function stripeHeaders(body) {
    const t = ctx.nowS() + cfg.timestamp_skew_s;
    const signed = cfg.tamper ? t + '.' + body + ' ' : t + '.' + body;
    const parts = ['t=' + t];
    for (const s of cfg.stripe_secrets) parts.push('v1=' + crypto.createHmac('sha256', s).update(signed).digest('hex'));
    parts.push('v0=' + crypto.createHmac('sha256', 'whsec_test_v0').update(signed).digest('hex'));
    return { 'Content-Type': 'application/json; charset=utf-8', 'Stripe-Signature': parts.join(','), 'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)' };
  }

  function paypalHeaders(ev) {
    const id = crypto.randomUUID();
    const time = new Date(ctx.now()).toISOString();
    const certUrl = 'https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-fake';
    const sig = crypto.createHmac('sha256', 'paypal-fake-signing-key').update(id + '|' + time + '|' + cfg.paypal_webhook_id + '|' + ev.body).digest('base64');
    transmissions.set(id, { sig, time, webhook_id: cfg.paypal_webhook_id, event: ev.parsed, cert_url: certUrl });
    return {
      'Content-Type': 'application/json', 'PAYPAL-TRANSMISSION-ID': id, 'PAYPAL-TRANSMISSION-TIME': time,
      'PAYPAL-TRANSMISSION-SIG': cfg.tamper ? sig.slice(1) + 'A' : sig, 'PAYPAL-CERT-URL': certUrl,
      'PAYPAL-AUTH-ALGO': 'SHA256withRSA', 'PAYPAL-AUTH-VERSION': 'v2',
    };
  }

  function deliver(ev, attempt = 0) {
    const url = ev.provider === 'stripe' ? cfg.stripe_url : cfg.paypal_url;
    if (!url) { held.push(ev); return; }
    const headers = ev.provider === 'stripe' ? stripeHeaders(ev.body) : paypalHeaders(ev);
    headers['Content-Length'] = Buffer.byteLength(ev.body);
    c.deliveries++;
    inflight++;
    const rec = { time_ms: ctx.now(), status: 0 };
    ev.deliveries.push(rec);
    const done = (status) => {
      inflight--;
      rec.status = status;
      if (status >= 200 && status < 300) { c.delivered++; return; }
      c.failed++;
      if (status >= 400 && status < 500) c.rejected++;
      if (attempt < cfg.retries) {
        c.retried++;
        inflight++;
        setTimeout(() => { inflight--; deliver(ev, attempt + 1); }, cfg.retry_ms * (1 << attempt));
      }
    };
    const req = http.request(url, { method: 'POST', headers, timeout: 10000 }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => done(0));
    req.end(ev.body);
  }

  // Queues one event: sent now, twice, late, or never.
  function emit(ev) {
    c.events++;
    events.push(ev);
    if (cfg.drop && ctx.rand() < cfg.drop) { ev.dropped = true; c.dropped++; return; }
    if (cfg.reorder && ctx.rand() < cfg.reorder) {
      ev.reordered = true;
      c.reordered++;
      inflight++;
      setTimeout(() => { inflight--; deliver(ev); }, cfg.reorder_delay_ms);
    } else {
      deliver(ev);
    }
    if (cfg.duplicate && ctx.rand() < cfg.duplicate) {
      ev.duplicated = true;
      c.duplicated++;
      inflight++;
      setTimeout(() => { inflight--; deliver(ev); }, 20 + Math.floor(ctx.rand() * 100));
    }
  }

  function stripe(type, object, request) {
    const e = {
      id: ctx.rid('evt_'), object: 'event', api_version: '2023-09-12', created: ctx.nowS(),
      data: { object }, livemode: false, pending_webhooks: 1, request, type,
    };
    const body = JSON.stringify(e, null, 2);
    const md = object.metadata || {};
    emit({ id: e.id, provider: 'stripe', type, object_id: object.id, order_id: md.order_id || null, body, parsed: e, deliveries: [] });
  }

  function paypal(type, resourceType, resource, summary) {
    const id = 'WH-' + crypto.randomBytes(10).toString('hex').toUpperCase();
    const e = {
      id, event_version: '1.0', create_time: new Date(ctx.now()).toISOString(), resource_type: resourceType,
      resource_version: '2.0', event_type: type, summary, resource,
      links: [
        { href: ctx.base + '/v1/notifications/webhooks-events/' + id, rel: 'self', method: 'GET' },
        { href: ctx.base + '/v1/notifications/webhooks-events/' + id + '/resend', rel: 'resend', method: 'POST' },
      ],
    };
    const body = JSON.stringify(e);
    const orderId = resource.custom_id || (resource.purchase_units && resource.purchase_units[0] && resource.purchase_units[0].custom_id) || null;
    emit({ id, provider: 'paypal', type, object_id: resource.id, order_id: orderId, body, parsed: e, deliveries: [] });
  }

  // Deep equality of two JSON values (member order ignored).
  const same = (a, b) => {
    if (a === b) return true;
    if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
    if (Array.isArray(a) !== Array.isArray(b)) return false;
    const ka = Object.keys(a), kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => same(a[k], b[k]));
  };

  function paypalVerify(b) {
    const t = transmissions.get(b.transmission_id);
    const ok = t && t.sig === b.transmission_sig && t.webhook_id === b.webhook_id && t.time === b.transmission_time &&
      t.cert_url === b.cert_url && b.auth_algo === 'SHA256withRSA' && same(t.event, b.webhook_event);
    return ok ? 'SUCCESS' : 'FAILURE';
  }

  function flush() {
    const n = held.length;
    const h = held;
    held = [];
    h.forEach((ev) => deliver(ev));
    return n;
  }

  function resend(id) {
    const ev = events.find((e) => e.id === id);
    if (!ev) return false;
    c.duplicated++;
    deliver(ev);
    return true;
  }

  const list = () => ({
    events: events.map((e) => ({ id: e.id, provider: e.provider, type: e.type, object_id: e.object_id, order_id: e.order_id, dropped: !!e.dropped, duplicated: !!e.duplicated, reordered: !!e.reordered, deliveries: e.deliveries })),
    held: held.length, in_flight: inflight,
  });
  const counts = () => Object.assign({ held: held.length, in_flight: inflight }, c);

  return { configure, stripe, paypal, paypalVerify, flush, resend, list, counts, reset };
};
