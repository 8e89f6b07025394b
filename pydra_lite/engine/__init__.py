"""Running tasks: jobs, the cache, result stores, and the submitter."""
