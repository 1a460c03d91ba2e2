"""What supervisors see and start: live figures over sliding windows (R13), the
Prometheus exposition and the wallboard, and the tiered emergency plans (R9), whose
level changes go to the core as events."""
