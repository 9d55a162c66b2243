import open_clip
import pytest
import torch

from projects.oneformer.models import TASKS, TaskTokenEncoder

# Token ids of "the task is {task}" from the OneFormer facts sheet.
EXPECTED_IDS = dict(
    panoptic=[49406, 518, 10549, 533, 1072, 24755, 49407],
    semantic=[49406, 518, 10549, 533, 29119, 1550, 49407],
    instance=[49406, 518, 10549, 533, 34572, 49407],
)


@pytest.mark.parametrize('task', TASKS)
def test_token_ids_match_released_tokenizer(task):
    ids = open_clip.tokenize([f'the task is {task}'])[0]
    expected = EXPECTED_IDS[task]
    assert ids.shape == (77, )
    assert ids[:len(expected)].tolist() == expected
    assert not ids[len(expected):].any()
    assert TaskTokenEncoder(embed_dims=8).tokenize([task])[0].equal(ids)


def test_raw_ids_go_through_mlp():
    encoder = TaskTokenEncoder(embed_dims=16)
    tokens = encoder(['semantic', 'panoptic', 'semantic'])
    assert tokens.shape == (3, 16)
    ids = torch.tensor(EXPECTED_IDS['semantic'] + [0] * 70, dtype=torch.float)
    first, relu, second = encoder.mlp
    expected = second(relu(first(ids)))
    # raw ids are large (up to 49407), hence a relative tolerance
    torch.testing.assert_close(tokens[0], expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(tokens[2], tokens[0], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(tokens[1], tokens[0])
    assert [m.__class__.__name__
            for m in encoder.mlp] == ['Linear', 'ReLU', 'Linear']
    assert encoder.mlp[0].in_features == 77


def test_no_token_ids_in_checkpoint():
    keys = set(TaskTokenEncoder(embed_dims=8).state_dict())
    assert keys == {'mlp.0.weight', 'mlp.0.bias', 'mlp.2.weight', 'mlp.2.bias'}


def test_unknown_task_lists_valid_ones():
    with pytest.raises(ValueError) as err:
        TaskTokenEncoder(embed_dims=8)(['panoptic', 'detection'])
    msg = str(err.value)
    assert 'detection' in msg
    for task in TASKS:
        assert repr(task) in msg
