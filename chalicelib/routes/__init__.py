"""What Chalice needs when app.py is imported: paths, methods, content types, queues.

Each route imports its handler module (``chalicelib/handlers/``) on its first call, so a
cold container loads only the code of the routes it serves: the SQS functions never load
the rules engine, an ``/event`` container never loads the admin API (docs/deploy.md, cold
start). ``chalicelib.runtime.warmup`` loads them all up front where init time is pre-paid.
"""
