"""What a merchant's Python app imports: an OpenFeature provider over this service's entitlements
(openfeature.py) and a Starlette guard built on it (guard.py). Needs `openfeature-sdk`."""
