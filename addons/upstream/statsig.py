"""`x-statsig-id` values.

grok.com's frontend sends base64 of a short JavaScript error string when its Statsig
evaluation fails; the gateway imitates that. Since 2026-06-03 the `e:` prefix is
answered with 403, so the dynamic value uses the newer `x1:` prefix, and in the
`children[...]` template the inner quotes are written backslash-escaped.
"""
from __future__ import annotations

import base64
import random
import string

from addons.upstream.config import FIXED_STATSIG_ID

_ALNUM = string.ascii_lowercase + string.digits
_ALPHA = string.ascii_lowercase
_PREFIX = "x1:"


def statsig_message(rng: random.Random | None = None) -> str:
    """One of the two error strings, chosen by a fair coin."""
    r = rng or random
    if r.random() < 0.5:
        ident = "".join(r.choice(_ALNUM) for _ in range(5))
        return f"{_PREFIX}TypeError: Cannot read properties of null (reading 'children[\\'{ident}\\']')"
    ident = "".join(r.choice(_ALPHA) for _ in range(10))
    return f"{_PREFIX}TypeError: Cannot read properties of undefined (reading '{ident}')"


def dynamic_statsig_id(rng: random.Random | None = None) -> str:
    """A fresh value per request: standard base64 (with padding) of `statsig_message()`."""
    return base64.b64encode(statsig_message(rng).encode("utf-8")).decode("ascii")


def fixed_statsig_id() -> str:
    """The documented fixed fallback (decodes to an `e:TypeError …childNodes` string)."""
    return FIXED_STATSIG_ID
