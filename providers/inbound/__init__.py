"""Replies (MO): what numbers send us, pushed by a provider to its inbound URL
`/mo/<token>/` (or carried by a CleverTap DLR callback), parsed per format, stored as
`Reply` rows, and their STOP / START keywords applied to the opt-out list."""
