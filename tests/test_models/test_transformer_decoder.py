import pytest
import torch

from projects.oneformer.models.transformer_decoder import (
    blocked_where_negative, unblock_full_rows)


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_blocked_where_negative_is_the_masked_attention_rule(dtype):
    """One threshold per row == the released rule (logit < 0 blocks a key)
    with the rows that block every key unblocked: rows all negative, all
    -inf, with a NaN, with a zero, and random ones."""
    torch.manual_seed(0)
    logits = torch.randn(2, 7, 40)
    logits[0, 0] = -logits[0, 0].abs() - 0.1  # every key blocked
    logits[0, 1] = float('-inf')
    logits[0, 2, 3] = float('nan')
    logits[0, 3] = -1.
    logits[0, 3, 5] = 0.  # 0 blocks nothing: the row is not full
    logits[1, 4] = -logits[1, 4].abs()
    logits[1, 4, 0] = float('nan')  # NaN is not < 0: not a full row
    logits = logits.to(dtype)
    expected = unblock_full_rows(logits < 0)
    got = blocked_where_negative(logits)
    assert got.dtype == torch.bool and got.equal(expected)
    assert not got[0, :2].any() and got[0, 3].sum() == 39
    assert 0.2 < got.float().mean() < 0.8
