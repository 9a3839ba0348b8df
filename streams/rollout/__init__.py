"""The edge's side of a model rollout: follow ``model.updates``, fetch and verify a model,
run it in shadow or canary beside the active one, judge it on live outcomes and roll it back
when it does worse (the bounds are :mod:`schemas.rollback`)."""
