"""Categorical embeddings: normalised tables, exact interpolation of one-hot logits."""

import torch


def test_embeddings_are_normalised_and_interpolation_of_one_hot_is_exact(parts):
    _, layout, tensors, denoiser = parts
    embedding = denoiser.temporal_embedding
    for table in embedding.normalized_tables():
        norms = table.norm(dim=-1)
        torch.testing.assert_close(norms, torch.full_like(norms, table.shape[-1] ** 0.5))
    codes = tensors.codes[:5].long()  # stored compactly; one_hot takes int64
    one_hot_logits = []
    for index, group in enumerate(layout.temporal.groups):
        members = [j - layout.temporal.n_numeric for j in group.feature_index]
        logits = torch.nn.functional.one_hot(codes[..., members], group.max_levels).float()
        one_hot_logits.append((logits * 1e4).flatten(-2))
    flat = torch.cat(one_hot_logits, dim=-1)
    torch.testing.assert_close(embedding.interpolate(flat), embedding.embed(codes))
