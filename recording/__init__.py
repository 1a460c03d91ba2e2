"""Recording policy without the engine: the archive (SHA-256, sidecars, index), WAV
inspection, retention and legal holds, the completeness audit and the audit log."""
