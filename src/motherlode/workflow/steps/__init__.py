"""The steps of a workflow, one module each; every step has ``inputs(context)`` (the files it reads)
and ``run(context)`` (which writes its outputs into ``context.staging``)."""
