"""The Evolution Proof: vitals, alerts with their causes, the story and next actions."""
