"""Real-time provider calls (provider-contract.md): request, deadline-bound call, fan-out."""
