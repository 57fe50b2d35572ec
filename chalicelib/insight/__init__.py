"""Audience insight (docs/insight.md): populations, trends and overlap of traits, segments and
data sources, counted off the request path from the profile table's DynamoDB Stream into
Theta sketches per (kind, id, UTC day), and the ``/v1/reports/*`` answers computed from them.

``derive`` reads one stream change, ``aggregator`` turns a batch into sketch merges,
``repository`` stores them (conditional writes), ``reports`` answers the API. Nothing here is
imported by the ``/event`` path; ``sketches`` loads the DataSketches library (and numpy) on
first use only.
"""
