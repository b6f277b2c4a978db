"""How each metric is named, counted and coloured on the page."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Look:
    """A metric's label, what it counts (the unit on axes), and its colour."""

    label: str
    unit: str
    color: str


LOOKS = {
    "new_signups": Look("New sign-ups", "users", "#64748b"),
    "legacy_conversions": Look("Legacy conversions", "users", "#2563eb"),
    "cumulative_legacy_conversions": Look("Converted so far", "users", "#4338ca"),
    "legacy_conversion_rate": Look("Conversion rate", "% of legacy users", "#4338ca"),
    "submissions_created": Look("Submissions created", "submissions", "#d97706"),
    "cards_submitted": Look("Cards submitted", "cards", "#b45309"),
    "vault_items_requested": Look("Vault items requested", "items", "#5eb5ad"),
    "vault_items_stored": Look("Vault items stored", "items", "#0f766e"),
    "collection_active_users": Look("Collection active users", "users", "#15803d"),
}
# The headline cards, in reading order.
HEADLINE = (
    "legacy_conversions",
    "legacy_conversion_rate",
    "submissions_created",
    "vault_items_requested",
    "vault_items_stored",
    "collection_active_users",
)
# The small multiples of the first hours.
HOURLY = (
    "new_signups",
    "legacy_conversions",
    "submissions_created",
    "vault_items_requested",
    "vault_items_stored",
    "collection_active_users",
)
ENTITY_LABELS = {"submission": "Submissions", "vault_item": "Vault items"}
ENTITY_COLORS = {"submission": ("#c2410c", "#fdc58f"), "vault_item": ("#0f766e", "#9fd8d1")}
DEFAULT_ENTITY_COLORS = ("#334155", "#cbd5e1")
