"""A provider's configuration: what a valid one is (validation), the presets, the rule for
write-only secrets, and the write services every path (form, API, admin, import) calls."""
