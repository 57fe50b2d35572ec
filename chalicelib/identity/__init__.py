"""Who a visitor is: identity values, resolution (cookie, d_uuid, declared ids) and /ibs."""
