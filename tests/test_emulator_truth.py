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
