"""The admin API (``/v1``): auth, body validation, catalog checks and the OpenAPI document.

Routes live in ``chalicelib/routes/admin.py``; this package is plain Python over an injected
catalog repository, token source and clock.
"""
