"""rapid: distributed reinforcement learning on Ray, from one YAML job spec."""
