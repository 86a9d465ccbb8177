"""Customer segments: RFM quintiles and named segments, cohorts, saved segments."""
