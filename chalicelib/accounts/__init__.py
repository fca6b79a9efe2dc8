"""The accounts of one stage: a family's INDstocks accounts sharing the stage's static IP.

- `model`: the accounts as configured (`ACCOUNTS`), which an alert targets, each account's
  ledger key and the quantity its multiplier makes of the alert's (pure).
- `desk`: one validated alert sent to each target account's own relay, side by side, and the
  answer listing every account's outcome.
"""

from chalicelib.accounts.model import (
    DEFAULT_ACCOUNT,
    Account,
    AccountBook,
    account_book,
    account_key,
    account_settings,
    namespace,
    scaled_alert,
)

__all__ = ["DEFAULT_ACCOUNT", "Account", "AccountBook", "account_book", "account_key", "account_settings", "namespace",
           "scaled_alert"]
