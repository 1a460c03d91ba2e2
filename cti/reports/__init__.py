"""R13: the record of what happened, kept in the store, and the reports over it."""
