"""Personal data: per-person keys for the audit log's personal values (`keys`), the subject-access
export (`export`), erasure with a second person's approval (`erasure`) and retention rules (`retention`)."""
