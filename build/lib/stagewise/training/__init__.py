"""Fine-tuning: losses, training-group sampling, the Lightning module and the training entry point."""
