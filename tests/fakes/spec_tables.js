'use strict';
// The parameter lists and currency tables the fake enforces, copied from the
// providers' own published material (the specs themselves are not
// committed here). Every table names its source.
//
// Stripe: stripe/openapi commit 63a674638635, openapi/spec3.yaml (API version
// 2023-09-12), requestBody application/x-www-form-urlencoded of each operation.
// PayPal: paypal/paypal-rest-api-specifications commit ec4d8f36a6ab,
// openapi/checkout_orders_v2.json, openapi/payments_payment_v2.json,
// openapi/notifications_webhooks_v1.json.

// Kinds: 's' string, 'i' integer, 'b' boolean, 'sb' boolean or one of `enum`,
// 'a' array, 'o' object with `keys` (one level checked; null: any keys),
// 'm' metadata (any keys, string values). `enum` restricts strings.
const S = { k: 's' }, I = { k: 'i' }, B = { k: 'b' }, A = { k: 'a' }, M = { k: 'm' };
const obj = (keys) => ({ k: 'o', keys });
const en = (...values) => ({ k: 's', enum: values });

// payment_method_data / payment_method_options sub-keys (spec3.yaml, same
// lists on create and confirm).
const PM_TYPES = ['acss_debit', 'affirm', 'afterpay_clearpay', 'alipay', 'au_becs_debit',
  'bacs_debit', 'bancontact', 'blik', 'boleto', 'card', 'card_present', 'cashapp',
  'customer_balance', 'eps', 'fpx', 'giropay', 'grabpay', 'ideal', 'interac_present', 'klarna',
  'konbini', 'link', 'oxxo', 'p24', 'paynow', 'paypal', 'pix', 'promptpay', 'sepa_debit',
  'sofort', 'us_bank_account', 'wechat_pay', 'zip'];
const PM_DATA = PM_TYPES.filter((t) => t !== 'card' && t !== 'card_present')
  .concat(['billing_details', 'metadata', 'radar_options', 'type']);

// spec3.yaml paths./v1/payment_intents.post (operationId PostPaymentIntents):
// required [amount, currency].
const PI_CREATE = {
  required: ['amount', 'currency'],
  params: {
    amount: I, application_fee_amount: I,
    automatic_payment_methods: obj(['allow_redirects', 'enabled']),
    capture_method: en('automatic', 'automatic_async', 'manual'),
    confirm: B, confirmation_method: en('automatic', 'manual'), currency: S, customer: S,
    description: S, error_on_requires_action: B, expand: A, mandate: S,
    mandate_data: obj(['customer_acceptance']), metadata: M,
    off_session: { k: 'sb', enum: ['one_off', 'recurring'] }, on_behalf_of: S,
    payment_method: S, payment_method_data: obj(PM_DATA), payment_method_options: obj(PM_TYPES),
    payment_method_types: A, radar_options: obj(['session']), receipt_email: S, return_url: S,
    setup_future_usage: en('off_session', 'on_session'),
    shipping: obj(['address', 'carrier', 'name', 'phone', 'tracking_number']),
    statement_descriptor: S, statement_descriptor_suffix: S,
    transfer_data: obj(['amount', 'destination']), transfer_group: S, use_stripe_sdk: B,
  },
};

// spec3.yaml paths./v1/payment_intents/{intent}/confirm.post
// (PostPaymentIntentsIntentConfirm).
const PI_CONFIRM = {
  required: [],
  params: {
    capture_method: en('automatic', 'automatic_async', 'manual'), client_secret: S,
    error_on_requires_action: B, expand: A, mandate: S, mandate_data: obj(['customer_acceptance']),
    off_session: { k: 'sb', enum: ['one_off', 'recurring'] }, payment_method: S,
    payment_method_data: obj(PM_DATA), payment_method_options: obj(PM_TYPES),
    payment_method_types: A, radar_options: obj(['session']), receipt_email: S, return_url: S,
    setup_future_usage: en('', 'off_session', 'on_session'),
    shipping: obj(['address', 'carrier', 'name', 'phone', 'tracking_number']), use_stripe_sdk: B,
  },
};

// spec3.yaml paths./v1/payment_intents/{intent}/cancel.post
// (PostPaymentIntentsIntentCancel): cancellation_reason enum.
const PI_CANCEL = {
  required: [],
  params: { cancellation_reason: en('abandoned', 'duplicate', 'fraudulent', 'requested_by_customer'), expand: A },
};

// spec3.yaml paths./v1/refunds.post (PostRefunds).
const REFUND_CREATE = {
  required: [],
  params: {
    amount: I, charge: S, currency: S, customer: S, expand: A, instructions_email: S, metadata: M,
    origin: en('customer_balance'), payment_intent: S,
    reason: en('duplicate', 'fraudulent', 'requested_by_customer'), refund_application_fee: B,
    reverse_transfer: B,
  },
};

// Query parameters. spec3.yaml paths./v1/payment_intents/search.get
// (GetPaymentIntentsSearch): query (required), limit, page, expand;
// paths./v1/payment_intents/{intent}.get: client_secret, expand.
const PI_SEARCH = { required: ['query'], params: { query: S, limit: I, page: S, expand: A } };
const PI_RETRIEVE = { required: [], params: { client_secret: S, expand: A } };

// Stripe currencies (docs.stripe.com/currencies): amounts in the smallest
// unit; zero-decimal currencies take whole units; three-decimal currencies
// must end in 0 ("round to the nearest ten"). The presentment currencies a
// card charge accepts (the list of that page).
const STRIPE_ZERO_DECIMAL = ['BIF', 'CLP', 'DJF', 'GNF', 'JPY', 'KMF', 'KRW', 'MGA', 'PYG', 'RWF',
  'UGX', 'VND', 'VUV', 'XAF', 'XOF', 'XPF'];
const STRIPE_THREE_DECIMAL = ['BHD', 'JOD', 'KWD', 'OMR', 'TND'];
const STRIPE_CURRENCIES = ['USD', 'AED', 'AFN', 'ALL', 'AMD', 'ANG', 'AOA', 'ARS', 'AUD', 'AWG',
  'AZN', 'BAM', 'BBD', 'BDT', 'BGN', 'BHD', 'BIF', 'BMD', 'BND', 'BOB', 'BRL', 'BSD', 'BWP', 'BYN',
  'BZD', 'CAD', 'CDF', 'CHF', 'CLP', 'CNY', 'COP', 'CRC', 'CVE', 'CZK', 'DJF', 'DKK', 'DOP', 'DZD',
  'EGP', 'ETB', 'EUR', 'FJD', 'FKP', 'GBP', 'GEL', 'GIP', 'GMD', 'GNF', 'GTQ', 'GYD', 'HKD', 'HNL',
  'HTG', 'HUF', 'IDR', 'ILS', 'INR', 'ISK', 'JMD', 'JOD', 'JPY', 'KES', 'KGS', 'KHR', 'KMF', 'KRW',
  'KWD', 'KYD', 'KZT', 'LAK', 'LBP', 'LKR', 'LRD', 'LSL', 'MAD', 'MDL', 'MGA', 'MKD', 'MMK', 'MNT',
  'MOP', 'MUR', 'MVR', 'MWK', 'MXN', 'MYR', 'MZN', 'NAD', 'NGN', 'NIO', 'NOK', 'NPR', 'NZD', 'OMR',
  'PAB', 'PEN', 'PGK', 'PHP', 'PKR', 'PLN', 'PYG', 'QAR', 'RON', 'RSD', 'RUB', 'RWF', 'SAR', 'SBD',
  'SCR', 'SEK', 'SGD', 'SHP', 'SLE', 'SOS', 'SRD', 'STD', 'SZL', 'THB', 'TJS', 'TND', 'TOP', 'TRY',
  'TTD', 'TWD', 'TZS', 'UAH', 'UGX', 'UYU', 'UZS', 'VND', 'VUV', 'WST', 'XAF', 'XCD', 'XOF', 'XPF',
  'YER', 'ZAR', 'ZMW'];
// spec3.yaml PostPaymentIntents amount: "supports up to eight digits".
const STRIPE_MAX_AMOUNT = 99999999;

// PayPal currencies (developer.paypal.com/docs/api/reference/currency-codes/,
// which checkout_orders_v2.json components.schemas.money.value points to).
// HUF, JPY and TWD "do not support decimals"; everything else two. Not in the
// table (KWD, BHD, JOD, OMR, TND, ...): 422 INVALID_CURRENCY_CODE. RUB was
// withdrawn and is refused here too.
const PAYPAL_CURRENCIES = ['AUD', 'BRL', 'CAD', 'CNY', 'CZK', 'DKK', 'EUR', 'HKD', 'HUF', 'ILS',
  'JPY', 'MYR', 'MXN', 'TWD', 'NZD', 'NOK', 'PHP', 'PLN', 'GBP', 'SGD', 'SEK', 'CHF', 'THB', 'USD'];
const PAYPAL_ZERO_DECIMAL = ['HUF', 'JPY', 'TWD'];

// checkout_orders_v2.json components.schemas: order_request (required intent,
// purchase_units 1..10), purchase_unit_request (required amount),
// amount_with_breakdown, payment_source, paypal_wallet,
// paypal_wallet_experience_context, order_application_context,
// order_capture_request.
const PP_ORDER_REQUEST = ['application_context', 'intent', 'payer', 'payment_source', 'purchase_units'];
const PP_PURCHASE_UNIT = ['amount', 'custom_id', 'description', 'invoice_id', 'items', 'payee',
  'payment_instruction', 'reference_id', 'shipping', 'soft_descriptor', 'supplementary_data'];
const PP_AMOUNT = ['breakdown', 'currency_code', 'value'];
const PP_PAYMENT_SOURCE = ['apple_pay', 'bancontact', 'blik', 'card', 'eps', 'giropay', 'google_pay',
  'ideal', 'mybank', 'p24', 'paypal', 'sofort', 'token', 'trustly', 'venmo'];
const PP_WALLET = ['address', 'attributes', 'billing_agreement_id', 'birth_date', 'email_address',
  'experience_context', 'name', 'phone', 'tax_info', 'vault_id'];
const PP_EXPERIENCE = ['brand_name', 'cancel_url', 'landing_page', 'locale',
  'payment_method_preference', 'return_url', 'shipping_preference', 'user_action'];
const PP_APP_CONTEXT = ['brand_name', 'cancel_url', 'landing_page', 'locale', 'payment_method',
  'return_url', 'shipping_preference', 'stored_payment_source', 'user_action'];
const PP_CAPTURE_REQUEST = ['payment_source'];
// payments_payment_v2.json components.schemas.refund_request.
const PP_REFUND_REQUEST = ['amount', 'custom_id', 'invoice_id', 'note_to_payer', 'payment_instruction'];
// notifications_webhooks_v1.json components.schemas.verify_webhook_signature.required.
const PP_VERIFY_REQUIRED = ['auth_algo', 'cert_url', 'transmission_id', 'transmission_sig',
  'transmission_time', 'webhook_id', 'webhook_event'];
// money.value pattern (checkout_orders_v2.json components.schemas.money).
const PP_VALUE_PATTERN = /^((-?[0-9]+)|(-?([0-9]+)?[.][0-9]+))$/;

// Request-id retention: checkout_orders_v2.json PayPal-Request-Id header
// ("The server stores keys for 6 hours"); payments_payment_v2.json refund
// ("stores keys for 45 days"). Stripe: keys "pruned after at least 24 hours"
// (docs.stripe.com/api/idempotent_requests).
const STRIPE_KEY_TTL_MS = 24 * 3600 * 1000;
const PAYPAL_REQUEST_ID_TTL_MS = 6 * 3600 * 1000;
const PAYPAL_REFUND_REQUEST_ID_TTL_MS = 45 * 24 * 3600 * 1000;

module.exports = {
  PI_CREATE, PI_CONFIRM, PI_CANCEL, REFUND_CREATE, PI_SEARCH, PI_RETRIEVE,
  STRIPE_ZERO_DECIMAL, STRIPE_THREE_DECIMAL, STRIPE_CURRENCIES, STRIPE_MAX_AMOUNT,
  PAYPAL_CURRENCIES, PAYPAL_ZERO_DECIMAL, PP_ORDER_REQUEST, PP_PURCHASE_UNIT, PP_AMOUNT,
  PP_PAYMENT_SOURCE, PP_WALLET, PP_EXPERIENCE, PP_APP_CONTEXT, PP_CAPTURE_REQUEST,
  PP_REFUND_REQUEST, PP_VERIFY_REQUIRED, PP_VALUE_PATTERN,
  STRIPE_KEY_TTL_MS, PAYPAL_REQUEST_ID_TTL_MS, PAYPAL_REFUND_REQUEST_ID_TTL_MS,
};
