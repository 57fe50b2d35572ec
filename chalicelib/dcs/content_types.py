"""The request and answer content types of the public routes (shared by routes and handlers)."""

FORM_TYPES = ("application/x-www-form-urlencoded", "text/plain")
JS = "application/javascript; charset=utf-8"
HTML = "text/html; charset=utf-8"
