"""The emulator stands in for Dodo only if it answers as Dodo's SDK expects: every call the worker
makes, made through a client with the SDK's strict response validation; and the worker's discount
arithmetic (what an offer shows) agrees with the emulator's (what the charge asks) for any code."""

from __future__ import annotations

from typing import Any

import pytest
from dodopayments import DodoPayments
from dodopayments.types import Discount
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.discounts import Discounts
from emulator.discounts import shape as discount_shape
from emulator.state import State
from tests.conftest import Stack, wait_until
from tests.test_charges import ADDON, BASIC, CUSTOMER, PRO, SUB
from worker import discounts


def strict(stack: Stack) -> DodoPayments:
    return DodoPayments(bearer_token="test", base_url=stack.dodo_url, max_retries=0, _strict_response_validation=True)


def test_every_call_the_worker_makes_passes_strict_validation(stack: Stack) -> None:
    stack.emulator()
    stack.dodo_control(
        "seed", {"discounts": {"TEN": {"type": "percentage", "amount": 1000, "expires_at": "2099-01-01T00:00:00Z"}}}
    )
    api = strict(stack)
    methods = api.customers.retrieve_payment_methods(CUSTOMER).items
    assert methods and methods[0].payment_method_type is not None
    assert api.products.retrieve(ADDON).product_id == ADDON
    assert api.discounts.retrieve_by_code("TEN").amount == 1000
    cart = [{"product_id": ADDON, "quantity": 1}]
    customer: Any = {"customer_id": CUSTOMER}
    fallback = api.checkout_sessions.create(product_cart=cart, customer=customer, discount_codes=["TEN"])
    assert fallback.checkout_url
    paid = api.checkout_sessions.create(
        product_cart=cart,
        customer=customer,
        payment_method_id=methods[0].payment_method_id,
        confirm=True,
        metadata={"upsell_offer_id": "off_strict"},
        discount_codes=["TEN"],
    )
    assert api.checkout_sessions.retrieve(paid.session_id).payment_status == "succeeded"
    assert paid.payment_id is not None
    payment = wait_until(lambda: _payment(api, paid.payment_id), what="the payment")  # kept once delivered
    assert payment.total_amount == 810 and payment.discounts and payment.discounts[0].code == "TEN"
    assert any(p.payment_id == paid.payment_id for p in api.payments.list(customer_id=CUSTOMER).items)
    assert api.subscriptions.retrieve(SUB).product_id == BASIC
    args: Any = {"product_id": PRO, "quantity": 1, "proration_billing_mode": "difference_immediately", "addons": []}
    preview = api.subscriptions.preview_change_plan(SUB, **args, discount_codes=["TEN"])
    changed = api.subscriptions.change_plan(SUB, **args, discount_codes=["TEN"])
    assert changed.payment_id and preview.immediate_charge.summary.total_amount == 3000 * 9 // 10 - 1000


def _payment(api: DodoPayments, payment_id: str) -> Any:
    from dodopayments import NotFoundError

    try:
        return api.payments.retrieve(payment_id)
    except NotFoundError:
        return None


options = st.lists(
    st.fixed_dictionaries(
        {"currency": st.sampled_from(["USD", "EUR"]), "max_amount_possible": st.none() | st.integers(1, 50_000)},
        optional={"minimum_subtotal": st.integers(0, 2_000)},
    ),
    max_size=2,
    unique_by=lambda o: o["currency"],
)
specs = st.fixed_dictionaries(
    {"type": st.sampled_from(["percentage", "flat"]), "amount": st.integers(1, 10_000), "currency_options": options}
)


@settings(max_examples=400, deadline=None)
@given(spec=specs, subtotal=st.integers(0, 1_000_000), currency=st.sampled_from(["USD", "EUR"]))
def test_the_worker_prices_a_code_as_the_emulator_charges_it(
    spec: dict[str, Any], subtotal: int, currency: str
) -> None:
    """Two implementations, one truth: for any code the worker calls usable, the price it shows
    (subtotal less `amount_off`) is what the emulator's checkout takes; for any code the worker calls
    unusable for currency or minimum, the emulator refuses it too."""
    known = Discounts()
    known.seed({"CODE": spec})
    world = State(None, None)
    discount = Discount.model_validate(discount_shape("CODE", known.known["CODE"]))
    reason = discounts.unusable(discount, ADDON, currency, subtotal)
    try:
        charged_off = known.amount_off(["CODE"], CUSTOMER, ADDON, subtotal, currency, world)
    except Exception as refused:
        assert reason in ("discount_currency", "discount_minimum"), (reason, refused)
        return
    assert reason is None
    assert discounts.amount_off(discount, subtotal, currency) == charged_off


@pytest.mark.parametrize("currency", ["USD", "EUR"])
def test_a_flat_code_without_that_currency_is_unusable(currency: str) -> None:
    spec = {"type": "flat", "amount": 100, "currency_options": [{"currency": "GBP", "max_amount_possible": 100}]}
    discount = Discount.model_validate(discount_shape("FLAT", spec))
    assert discounts.unusable(discount, ADDON, currency, 900) == "discount_currency"


windows = st.fixed_dictionaries(
    {"type": st.just("percentage"), "amount": st.integers(1, 10_000)},
    optional={
        "starts_at": st.sampled_from(["2000-01-01T00:00:00Z", "2099-01-01T00:00:00Z"]),
        "expires_at": st.sampled_from(["2000-01-01T00:00:00Z", "2099-01-01T00:00:00Z"]),
        "usage_limit": st.integers(1, 3),
        "times_used": st.integers(0, 4),
        "restricted_to": st.sampled_from([[ADDON], [BASIC], [ADDON, PRO], []]),
        "customer_eligibility": st.sampled_from(["any", "existing", "first_time"]),
    },
)


@settings(max_examples=300, deadline=None)
@given(spec=windows)
def test_the_worker_calls_a_code_usable_exactly_when_the_emulator_takes_it(spec: dict[str, Any]) -> None:
    """Windows, limits, products and customers: the worker's verdict before the charge is the
    emulator's at the charge (for a returning customer, as an upsell's always is)."""
    known = Discounts()
    known.seed({"CODE": spec})
    world = State(None, None)
    world.customers[CUSTOMER] = {"payment_methods": [{"payment_method_id": "pm_1"}]}  # bought before
    discount = Discount.model_validate(discount_shape("CODE", known.known["CODE"]))
    reason = discounts.unusable(discount, ADDON, "USD", 900)
    try:
        known.amount_off(["CODE"], CUSTOMER, ADDON, 900, "USD", world)
        taken = True
    except Exception:
        taken = False
    assert (reason is None) == taken, (reason, spec)


def test_a_codes_terms_say_basis_points_for_a_percentage_and_minor_units_for_a_flat_code() -> None:
    options = [{"currency": "USD", "max_amount_possible": 250}]
    flat = Discount.model_validate(discount_shape("FLAT", {"type": "flat", "amount": 1, "currency_options": options}))
    share = Discount.model_validate(
        discount_shape("PCT", {"type": "percentage", "amount": 540, "currency_options": options})
    )
    assert discounts.terms(flat, "USD") == {"code": "FLAT", "type": "flat", "amount": 250, "ends_at": None}
    assert discounts.terms(flat, None)["amount"] is None and discounts.terms(flat, "EUR")["amount"] is None
    assert discounts.terms(share, "USD")["amount"] == 540 and discounts.terms(share, None)["amount"] == 540
    assert discounts.amount_off(share, 4999, "EUR") == 270 and discounts.amount_off(share, 100, "USD") == 5
    one_bp = Discount.model_validate(discount_shape("BP", {"type": "percentage", "amount": 1}))
    assert discounts.amount_off(one_bp, 4999, "USD") == 0 and discounts.amount_off(one_bp, 5000, "USD") == 1, "half up"
