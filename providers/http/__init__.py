"""Talking to providers over HTTP: the SSRF-safe synchronous transport (test SMS, send
now) and the bulk transport the dispatcher uses, sharing one reader of answers."""
