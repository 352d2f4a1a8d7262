"""``madminer.likelihood.manipulate``: not built yet (:mod:`motherlode.pending`)."""

from ..pending import LIKELIHOOD, pending_function

__all__ = ["fix_params", "profile_log_likelihood", "project_log_likelihood"]

fix_params = pending_function("fix_params", __name__, LIKELIHOOD)
profile_log_likelihood = pending_function("profile_log_likelihood", __name__, LIKELIHOOD)
project_log_likelihood = pending_function("project_log_likelihood", __name__, LIKELIHOOD)
