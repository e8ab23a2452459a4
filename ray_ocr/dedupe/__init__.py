"""Near-duplicate keyframe removal: whole-frame embeddings (CLIP or perceptual) in a FAISS
index, verified by a text-region signature so a new subtitle over the same scene is kept."""
