import type { Client, Options as Options2, TDataShape } from './client/index.js';
import type { AcceptOfferData, AcceptOfferErrors, AcceptOfferResponses, CreateClientTokenData, CreateClientTokenErrors, CreateClientTokenResponses, DeclineOfferData, DeclineOfferErrors, DeclineOfferResponses, GetCustomerAccessData, GetCustomerAccessErrors, GetCustomerAccessResponses, GetEligibilityData, GetEligibilityErrors, GetEligibilityResponses, GetOfferData, GetOfferErrors, GetOfferResponses, GetStatsData, GetStatsErrors, GetStatsResponses, ListAccessData, ListAccessErrors, ListAccessResponses, ListCustomerOffersData, ListCustomerOffersErrors, ListCustomerOffersResponses, PreviewPlanChangeData, PreviewPlanChangeErrors, PreviewPlanChangeResponses, SendAppEventData, SendAppEventErrors, SendAppEventResponses } from './types.gen.js';
export type Options<TData extends TDataShape = TDataShape, ThrowOnError extends boolean = boolean, TResponse = unknown> = Options2<TData, ThrowOnError, TResponse> & {
    /**
     * You can provide a client instance returned by `createClient()` instead of
     * individual options. This might be also useful if you want to implement a
     * custom client.
     */
    client?: Client;
    /**
     * You can pass arbitrary values through the `meta` object. This can be
     * used to access values that aren't defined as part of the SDK function.
     */
    meta?: Record<string, unknown>;
};
export declare const listAccess: <ThrowOnError extends boolean = false>(options?: Options<ListAccessData, ThrowOnError>) => import("./client/types.gen.js").RequestResult<ListAccessResponses, ListAccessErrors, ThrowOnError, "fields">;
export declare const getCustomerAccess: <ThrowOnError extends boolean = false>(options: Options<GetCustomerAccessData, ThrowOnError>) => import("./client/types.gen.js").RequestResult<GetCustomerAccessResponses, GetCustomerAccessErrors, ThrowOnError, "fields">;
export declare const createClientToken: <ThrowOnError extends boolean = false>(options: Options<CreateClientTokenData, ThrowOnError>) => import("./client/types.gen.js").RequestResult<CreateClientTokenResponses, CreateClientTokenErrors, ThrowOnError, "fields">;
export declare const getEligibility: <ThrowOnError extends boolean = false>(options: Options<GetEligibilityData, ThrowOnError>) => import("./client/types.gen.js").RequestResult<GetEligibilityResponses, GetEligibilityErrors, ThrowOnError, "fields">;
export declare const sendAppEvent: <ThrowOnError extends boolean = false>(options: Options<SendAppEventData, ThrowOnError>) => import("./client/types.gen.js").RequestResult<SendAppEventResponses, SendAppEventErrors, ThrowOnError, "fields">;
export declare const listCustomerOffers: <ThrowOnError extends boolean = false>(options: Options<ListCustomerOffersData, ThrowOnError>) => import("./client/types.gen.js").RequestResult<ListCustomerOffersResponses, ListCustomerOffersErrors, ThrowOnError, "fields">;
export declare const getOffer: <ThrowOnError extends boolean = false>(options: Options<GetOfferData, ThrowOnError>) => import("./client/types.gen.js").RequestResult<GetOfferResponses, GetOfferErrors, ThrowOnError, "fields">;
export declare const acceptOffer: <ThrowOnError extends boolean = false>(options: Options<AcceptOfferData, ThrowOnError>) => import("./client/types.gen.js").RequestResult<AcceptOfferResponses, AcceptOfferErrors, ThrowOnError, "fields">;
export declare const declineOffer: <ThrowOnError extends boolean = false>(options: Options<DeclineOfferData, ThrowOnError>) => import("./client/types.gen.js").RequestResult<DeclineOfferResponses, DeclineOfferErrors, ThrowOnError, "fields">;
export declare const getStats: <ThrowOnError extends boolean = false>(options?: Options<GetStatsData, ThrowOnError>) => import("./client/types.gen.js").RequestResult<GetStatsResponses, GetStatsErrors, ThrowOnError, "fields">;
export declare const previewPlanChange: <ThrowOnError extends boolean = false>(options: Options<PreviewPlanChangeData, ThrowOnError>) => import("./client/types.gen.js").RequestResult<PreviewPlanChangeResponses, PreviewPlanChangeErrors, ThrowOnError, "fields">;
