"""Operations: health, readiness, metrics and structured logs."""
