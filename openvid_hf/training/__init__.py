"""Fine-tuning MVDiT with accelerate."""
