"""Delivery reports: one parser module per format, the callback view, and applying
reports to messages (apply, with its SQL in rows)."""
