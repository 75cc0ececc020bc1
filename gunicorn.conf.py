"""gunicorn's settings when it is started from the repository (dev.py run, production):
its log lines in the same format and time zone (UTC) as the product's."""

import os

from smsgateway.logging import gunicorn_logging

logconfig_dict = gunicorn_logging(os.environ.get("LOG_FORMAT", "plain"))
