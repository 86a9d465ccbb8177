"""Background jobs and schedules: the worker, nightly compute, scheduled reports, long page actions as jobs."""
