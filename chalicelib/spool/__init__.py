"""The spool: profile writes that DynamoDB refused, queued in SQS and applied later.

``codec`` turns a :class:`~chalicelib.store.profiles.ProfileChanges` into a queue message and
back (no ``p_`` data: changes hold trait ids, stamps, cached provider answers, segments,
synced ids); ``queue`` sends it; ``replay`` applies a batch of messages through
``ProfileRepository.replay`` (idempotent) and reports what failed, for the queue handler in
``chalicelib/routes/spool.py``.
"""
