"""schemathesis hooks for tests/conformance.sh (loaded through SCHEMATHESIS_HOOKS).

An `Idempotency-Key` is a promise about one request: the same key with another body is
answered 422 (docs/API.md, "Idempotency keys"). A schema cannot say "unique", so generated
positive requests would reuse small keys ("0", "00") across different bodies and be rejected
rightly; each positive request that carries a key gets a fresh one here. Negative requests
keep theirs (an invalid key must still be refused).
"""
import uuid

import schemathesis


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers or {}
    name = next((key for key in headers if key.lower() == "idempotency-key"), None)
    meta = case.meta
    if name is None or meta is None or not meta.generation.mode.is_positive:
        return
    headers[name] = str(uuid.uuid4())
