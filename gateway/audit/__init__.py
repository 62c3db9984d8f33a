"""The audit log: one append-only table of entries, written in the same transaction as each state change (DESIGN §7)."""
