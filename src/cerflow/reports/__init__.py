"""Generated CERs: one row per report job, the files on disk, the reports API."""
