"""The certificate registry: status of every certificate of origin sent or received (issue 6, DESIGN §3)."""
