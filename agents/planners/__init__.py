"""Planners: optimisers of action (and latent) sequences over the latent-model protocol.

Every planner implements ``plan(model, feature) -> PlanResult`` against
:class:`agents.planners.base.LatentModel`, never against the world model itself, so each
can be tested on small analytic models without images or training.
"""
