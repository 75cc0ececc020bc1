"""Delivery-report (DLR) callback: one parser module per format, and the view."""
