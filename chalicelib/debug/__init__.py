"""Event capture for the console's live event debugger (docs/console.md, section 4).

Off by default. Turned on (``POST /v1/debug/capture``) for one UUID or a sampling rate of at
most 1 %, for at most 60 minutes. The setting lives in the catalog table and travels with the
catalog snapshot (``raw["debug"]``), so an event reads nothing extra; a captured event costs
one PutItem to the capture table (24 h TTL), an uncaptured one nothing.
"""
