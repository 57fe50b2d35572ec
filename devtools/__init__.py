"""Developer tools: local stack runner, provider simulator, demo catalog seeding.

Not shipped to Lambda (only ``app.py`` and ``chalicelib/`` are).
"""
