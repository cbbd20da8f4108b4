"""Job kinds, one module each: a typed config implementing `corpusforge.job.Job`, registered as an entry point
of group ``corpusforge.jobs`` (pyproject.toml). The engines in `pipelines.engines` run their tasks."""
