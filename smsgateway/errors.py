"""What Django's error reports (the e-mails to ADMINS) may show.

Django hides settings with secret-sounding names, and POST fields only where a view
says so. Provider forms carry credentials under several names (username, password,
header values, callback basic auth), and a traceback's local variables can hold them
after the fact, so outside DEBUG this filter hides every such POST field, every
local variable. (The DLR callback, whose URL holds a secret token, answers its own
errors and never reaches these reports.)
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter

# Field names whose values are credentials on some form of this product.
SECRET_FIELD = re.compile(r"pass|user|secret|token|key|auth|header|credential", re.IGNORECASE)


class SecretsReporterFilter(SafeExceptionReporterFilter):
    def get_post_parameters(self, request: HttpRequest | None) -> Any:
        parameters = super().get_post_parameters(request)
        if request is None or not self.is_active(request):
            return parameters
        cleansed = parameters.copy()
        for name in cleansed:
            if SECRET_FIELD.search(name):
                cleansed[name] = self.cleansed_substitute
        return cleansed

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: Any) -> Any:
        if request is not None and not self.is_active(request):
            return super().get_traceback_frame_variables(request, tb_frame)
        # A loop variable named `value` can hold a password as well as any `password`.
        return [(name, self.cleansed_substitute) for name in tb_frame.f_locals]
