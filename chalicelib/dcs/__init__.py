"""The DCS protocol (dcs-protocol.md): request parsing, identity values, errors, responses."""
