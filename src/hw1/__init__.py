"""hw1: a reproducible report on attention and transformers (BERT, SegFormer, BEiT)."""
