"""A local stand-in for the Dodo Payments API endpoints the worker calls, like stripe-mock for Stripe."""
