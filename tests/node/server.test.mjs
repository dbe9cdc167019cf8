// OpenFeature's own Node SDK and OFREP provider against the running receiver (tests/test_ofrep_node.py
// starts it and passes UPSELL_URL, UPSELL_TOKEN, UPSELL_CUSTOMER (holds course_rust and tier basic)
// and UPSELL_STRANGER (unknown here)). Run: node --test tests/node/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OpenFeature, ErrorCode } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';

const { UPSELL_URL, UPSELL_TOKEN, UPSELL_CUSTOMER, UPSELL_STRANGER } = process.env;

test('the published Node provider reads entitlements', { skip: !UPSELL_URL }, async () => {
  await OpenFeature.setProviderAndWait(
    new OFREPProvider({ baseUrl: UPSELL_URL, headers: { 'X-API-Key': UPSELL_TOKEN } }),
  );
  const flags = OpenFeature.getClient();
  const me = { targetingKey: UPSELL_CUSTOMER };
  const held = await flags.getBooleanDetails('course_rust', false, me);
  assert.equal(held.value, true);
  assert.equal(held.reason, 'TARGETING_MATCH');
  assert.equal(await flags.getStringValue('tier', 'none', me), 'basic');
  assert.equal(await flags.getNumberValue('limit.projects', 0, me), 3);
  const off = await flags.getBooleanDetails('course_rust', true, { targetingKey: UPSELL_STRANGER });
  assert.equal(off.value, false);
  assert.equal(off.reason, 'DEFAULT');
  assert.equal(off.errorCode, undefined);
  const missing = await flags.getBooleanDetails('no_such_feature', true, me);
  assert.equal(missing.value, true);
  assert.equal(missing.errorCode, ErrorCode.FLAG_NOT_FOUND);
  await OpenFeature.close();
});
