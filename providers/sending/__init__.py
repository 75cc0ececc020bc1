"""A message's way out: created (create), claimed per lane (claims, lanes), rendered
(rendering, placeholders), sent by the dispatcher, recorded (record) and retried (retry)."""
