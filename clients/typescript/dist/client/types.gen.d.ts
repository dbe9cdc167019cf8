export type ClientOptions = {
    baseUrl: `${string}://openapi.json` | (string & {});
};
/**
 * Access
 */
export type Access = {
    /**
     * Credits
     *
     * credit balances by credit entitlement id
     */
    credits: {
        [key: string]: CreditView;
    };
    /**
     * Customer Id
     */
    customer_id: string;
    /**
     * Ended
     *
     * grants whose end passed; their revocation has not run yet
     */
    ended: Array<GrantView>;
    /**
     * Features
     */
    features: Array<string>;
    /**
     * Grants
     */
    grants: Array<GrantView>;
    /**
     * Limits
     *
     * each limit: highest over counting grants, or their sum
     */
    limits: {
        [key: string]: number;
    };
    /**
     * Tier
     */
    tier: string | null;
    /**
     * Version
     */
    version: number;
};
/**
 * AccessPage
 */
export type AccessPage = {
    /**
     * Items
     */
    items: Array<Access>;
    /**
     * Next Cursor
     */
    next_cursor: string | null;
};
/**
 * AppEvent
 */
export type AppEvent = {
    /**
     * Data
     */
    data?: {
        [key: string]: unknown;
    };
    /**
     * Type
     */
    type: string;
    [key: string]: unknown;
};
/**
 * AppEventAnswer
 */
export type AppEventAnswer = {
    /**
     * Event Id
     */
    event_id: string;
    /**
     * Status
     */
    status: 'queued' | 'duplicate';
    /**
     * Type
     */
    type: string;
};
/**
 * ChangePreview
 */
export type ChangePreview = {
    /**
     * Product Id
     */
    product_id: string;
    /**
     * Proration
     */
    proration: string;
    /**
     * Quantity
     */
    quantity: number;
    /**
     * Quote
     */
    quote: {
        [key: string]: unknown;
    };
    /**
     * Subscription Id
     */
    subscription_id: string;
};
/**
 * ClientToken
 *
 * A token a browser may hold: one customer's flags (OFREP) and offers, until `expires_at`.
 */
export type ClientToken = {
    /**
     * Customer Id
     */
    customer_id: string;
    /**
     * Expires At
     */
    expires_at: string;
    /**
     * Scopes
     */
    scopes: Array<string>;
    /**
     * Token
     */
    token: string;
};
/**
 * ClientTokenRequest
 */
export type ClientTokenRequest = {
    /**
     * Scopes
     *
     * default both
     */
    scopes?: Array<'flags' | 'offers'> | null;
    /**
     * Ttl
     *
     * 60 s to 24 h: seconds, or 90s, 30m, 1h; default 1h
     */
    ttl?: string | number | null;
};
/**
 * CreditView
 */
export type CreditView = {
    /**
     * Balance
     *
     * the newest ledger entry's balance_after
     */
    balance: number | null;
    /**
     * Name
     */
    name: string | null;
};
/**
 * Eligibility
 */
export type Eligibility = {
    /**
     * Customer Id
     */
    customer_id: string;
    /**
     * Eligible
     */
    eligible: boolean;
    /**
     * Product Id
     */
    product_id: string;
    /**
     * Reason
     */
    reason: string;
};
/**
 * Error
 */
export type Error = {
    /**
     * Code
     */
    code?: string | null;
    /**
     * Error
     */
    error: string;
    offer?: Offer | null;
    /**
     * Quote
     */
    quote?: {
        [key: string]: unknown;
    } | null;
};
/**
 * GrantView
 */
export type GrantView = {
    /**
     * Ends At
     *
     * ISO 8601; when its revocation is due
     */
    ends_at: string | null;
    /**
     * Features
     */
    features: Array<string>;
    /**
     * Limits
     *
     * its product's plan limits (access.yaml)
     */
    limits: {
        [key: string]: number;
    };
    /**
     * Product Id
     */
    product_id: string;
    /**
     * Source
     */
    source: string;
    /**
     * Suspended
     */
    suspended: boolean;
    /**
     * Tier
     */
    tier: string | null;
};
/**
 * Offer
 */
export type Offer = {
    /**
     * Causation Depth
     */
    causation_depth?: number;
    /**
     * Checkout Url
     */
    checkout_url?: string | null;
    /**
     * Cooldown Seconds
     */
    cooldown_seconds?: number | null;
    /**
     * Created At
     */
    created_at: string;
    /**
     * Customer Id
     */
    customer_id: string;
    /**
     * Discount Code
     */
    discount_code?: string | null;
    /**
     * Discount Unavailable
     */
    discount_unavailable?: string | null;
    /**
     * Display
     */
    display?: {
        [key: string]: unknown;
    } | null;
    /**
     * Effective At
     */
    effective_at?: string | null;
    /**
     * Error Code
     */
    error_code?: string | null;
    /**
     * Expires At
     */
    expires_at?: string | null;
    /**
     * Locale
     */
    locale?: string | null;
    /**
     * Offer Id
     */
    offer_id: string;
    /**
     * the offer's page for the customer (UPSELL_PUBLIC_URL); null without one
     */
    offer_url?: string | null;
    /**
     * On Payment Failure
     */
    on_payment_failure?: string;
    /**
     * Payment Id
     */
    payment_id?: string | null;
    /**
     * Payment Method Id
     */
    payment_method_id?: string | null;
    /**
     * Product Id
     */
    product_id: string;
    /**
     * Proration
     */
    proration?: string | null;
    /**
     * Quantity
     */
    quantity: number;
    /**
     * Quote
     */
    quote?: {
        [key: string]: unknown;
    } | null;
    /**
     * Return Url
     */
    return_url?: string | null;
    /**
     * Rule Id
     */
    rule_id: string;
    /**
     * Rule Set
     */
    rule_set?: string | null;
    /**
     * Session Id
     */
    session_id?: string | null;
    /**
     * Source
     */
    source: string;
    /**
     * Source Payment Id
     */
    source_payment_id?: string | null;
    /**
     * State
     */
    state?: 'pending' | 'charging' | 'converted' | 'failed' | 'declined' | 'expired';
    /**
     * Subscription Id
     */
    subscription_id?: string | null;
    /**
     * Trigger
     */
    trigger: string;
    /**
     * Type
     */
    type: 'one_click' | 'cross_sell' | 'upgrade' | 'downgrade';
    /**
     * Variant
     */
    variant: string;
    /**
     * Variant Id
     */
    variant_id?: string | null;
};
/**
 * Offers
 */
export type Offers = {
    /**
     * Customer Id
     */
    customer_id: string;
    /**
     * Next Cursor
     *
     * pass as `cursor` for the next page; null on the last
     */
    next_cursor: string | null;
    /**
     * Offers
     *
     * oldest first, at most `limit` (1..100, default 100)
     */
    offers: Array<Offer>;
};
/**
 * Stats
 */
export type Stats = {
    /**
     * Rules
     */
    rules: Array<{
        [key: string]: unknown;
    }>;
    /**
     * Since
     */
    since: string;
    /**
     * Until
     */
    until: string;
    [key: string]: unknown;
};
export type ListAccessData = {
    body?: never;
    path?: never;
    query?: {
        cursor?: string;
        limit?: number;
    };
    url: '/api/access';
};
export type ListAccessErrors = {
    /**
     * error
     */
    400: Error;
    /**
     * error
     */
    401: Error;
    /**
     * error
     */
    503: Error;
};
export type ListAccessError = ListAccessErrors[keyof ListAccessErrors];
export type ListAccessResponses = {
    /**
     * AccessPage
     */
    200: AccessPage;
};
export type ListAccessResponse = ListAccessResponses[keyof ListAccessResponses];
export type GetCustomerAccessData = {
    body?: never;
    path: {
        customer_id: string;
    };
    query?: never;
    url: '/api/customers/{customer_id}/access';
};
export type GetCustomerAccessErrors = {
    /**
     * error
     */
    401: Error;
    /**
     * error
     */
    503: Error;
};
export type GetCustomerAccessError = GetCustomerAccessErrors[keyof GetCustomerAccessErrors];
export type GetCustomerAccessResponses = {
    /**
     * Access
     */
    200: Access;
};
export type GetCustomerAccessResponse = GetCustomerAccessResponses[keyof GetCustomerAccessResponses];
export type CreateClientTokenData = {
    body?: ClientTokenRequest;
    path: {
        customer_id: string;
    };
    query?: never;
    url: '/api/customers/{customer_id}/client-tokens';
};
export type CreateClientTokenErrors = {
    /**
     * error
     */
    400: Error;
    /**
     * error
     */
    401: Error;
    /**
     * error
     */
    503: Error;
};
export type CreateClientTokenError = CreateClientTokenErrors[keyof CreateClientTokenErrors];
export type CreateClientTokenResponses = {
    /**
     * ClientToken
     */
    200: ClientToken;
};
export type CreateClientTokenResponse = CreateClientTokenResponses[keyof CreateClientTokenResponses];
export type GetEligibilityData = {
    body?: never;
    path: {
        customer_id: string;
    };
    query?: {
        product_id?: string;
    };
    url: '/api/customers/{customer_id}/eligibility';
};
export type GetEligibilityErrors = {
    /**
     * error
     */
    400: Error;
    /**
     * error
     */
    401: Error;
    /**
     * error
     */
    404: Error;
    /**
     * error
     */
    502: Error;
    /**
     * error
     */
    503: Error;
};
export type GetEligibilityError = GetEligibilityErrors[keyof GetEligibilityErrors];
export type GetEligibilityResponses = {
    /**
     * Eligibility
     */
    200: Eligibility;
};
export type GetEligibilityResponse = GetEligibilityResponses[keyof GetEligibilityResponses];
export type SendAppEventData = {
    body: AppEvent;
    headers?: {
        'Idempotency-Key'?: string;
    };
    path: {
        customer_id: string;
    };
    query?: never;
    url: '/api/customers/{customer_id}/events';
};
export type SendAppEventErrors = {
    /**
     * error
     */
    400: Error;
    /**
     * error
     */
    401: Error;
    /**
     * error
     */
    413: Error;
    /**
     * error
     */
    503: Error;
};
export type SendAppEventError = SendAppEventErrors[keyof SendAppEventErrors];
export type SendAppEventResponses = {
    /**
     * duplicate
     */
    200: AppEventAnswer;
    /**
     * AppEventAnswer
     */
    202: AppEventAnswer;
};
export type SendAppEventResponse = SendAppEventResponses[keyof SendAppEventResponses];
export type ListCustomerOffersData = {
    body?: never;
    path: {
        customer_id: string;
    };
    query?: {
        wait?: string;
        cursor?: string;
        limit?: number;
    };
    url: '/api/customers/{customer_id}/offers';
};
export type ListCustomerOffersErrors = {
    /**
     * error
     */
    400: Error;
    /**
     * error
     */
    401: Error;
    /**
     * error
     */
    503: Error;
};
export type ListCustomerOffersError = ListCustomerOffersErrors[keyof ListCustomerOffersErrors];
export type ListCustomerOffersResponses = {
    /**
     * Offers
     */
    200: Offers;
};
export type ListCustomerOffersResponse = ListCustomerOffersResponses[keyof ListCustomerOffersResponses];
export type GetOfferData = {
    body?: never;
    path: {
        offer_id: string;
    };
    query?: {
        customer_id?: string;
    };
    url: '/api/offers/{offer_id}';
};
export type GetOfferErrors = {
    /**
     * error
     */
    401: Error;
    /**
     * error
     */
    404: Error;
    /**
     * error
     */
    503: Error;
};
export type GetOfferError = GetOfferErrors[keyof GetOfferErrors];
export type GetOfferResponses = {
    /**
     * Offer
     */
    200: Offer;
};
export type GetOfferResponse = GetOfferResponses[keyof GetOfferResponses];
export type AcceptOfferData = {
    body?: never;
    path: {
        offer_id: string;
    };
    query?: {
        customer_id?: string;
        wait?: string;
    };
    url: '/api/offers/{offer_id}/accept';
};
export type AcceptOfferErrors = {
    /**
     * error
     */
    400: Error;
    /**
     * error
     */
    401: Error;
    /**
     * error
     */
    404: Error;
    /**
     * error
     */
    409: Error;
    /**
     * error
     */
    502: Error;
    /**
     * error
     */
    503: Error;
};
export type AcceptOfferError = AcceptOfferErrors[keyof AcceptOfferErrors];
export type AcceptOfferResponses = {
    /**
     * settled within the wait
     */
    200: Offer;
    /**
     * Offer
     */
    202: Offer;
};
export type AcceptOfferResponse = AcceptOfferResponses[keyof AcceptOfferResponses];
export type DeclineOfferData = {
    body?: never;
    path: {
        offer_id: string;
    };
    query?: {
        customer_id?: string;
    };
    url: '/api/offers/{offer_id}/decline';
};
export type DeclineOfferErrors = {
    /**
     * error
     */
    401: Error;
    /**
     * error
     */
    404: Error;
    /**
     * error
     */
    409: Error;
    /**
     * error
     */
    503: Error;
};
export type DeclineOfferError = DeclineOfferErrors[keyof DeclineOfferErrors];
export type DeclineOfferResponses = {
    /**
     * Offer
     */
    200: Offer;
};
export type DeclineOfferResponse = DeclineOfferResponses[keyof DeclineOfferResponses];
export type GetStatsData = {
    body?: never;
    path?: never;
    query?: {
        since?: string;
        until?: string;
        rule?: string;
    };
    url: '/api/stats';
};
export type GetStatsErrors = {
    /**
     * error
     */
    400: Error;
    /**
     * error
     */
    401: Error;
    /**
     * error
     */
    503: Error;
};
export type GetStatsError = GetStatsErrors[keyof GetStatsErrors];
export type GetStatsResponses = {
    /**
     * Stats
     */
    200: Stats;
};
export type GetStatsResponse = GetStatsResponses[keyof GetStatsResponses];
export type PreviewPlanChangeData = {
    body?: never;
    path: {
        subscription_id: string;
    };
    query?: {
        product_id?: string;
        proration?: 'prorated_immediately' | 'full_immediately' | 'difference_immediately' | 'do_not_bill' | 'prorated_immediately_keep_cycle';
        quantity?: string;
    };
    url: '/api/subscriptions/{subscription_id}/change-preview';
};
export type PreviewPlanChangeErrors = {
    /**
     * error
     */
    400: Error;
    /**
     * error
     */
    401: Error;
    /**
     * error
     */
    404: Error;
    /**
     * error
     */
    502: Error;
    /**
     * error
     */
    503: Error;
};
export type PreviewPlanChangeError = PreviewPlanChangeErrors[keyof PreviewPlanChangeErrors];
export type PreviewPlanChangeResponses = {
    /**
     * ChangePreview
     */
    200: ChangePreview;
};
export type PreviewPlanChangeResponse = PreviewPlanChangeResponses[keyof PreviewPlanChangeResponses];
