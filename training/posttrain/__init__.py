"""Post-training on the Megatron-Core trainer: chat template, thinking budget, SFT, GRPO, fusion, distillation."""
