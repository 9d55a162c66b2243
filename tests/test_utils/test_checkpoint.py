"""Runner checkpoints save and resume under torch >= 2.6 without ``weights_only=False``."""
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint

import projects.oneformer  # noqa: F401  installs the allow-list


class ToyRegressor(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, targets, mode='tensor'):
        pred = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((pred - targets) ** 2).mean())
        return pred


class ToyData(torch.utils.data.Dataset):
    metainfo = dict(classes=('a', 'b'))

    def __len__(self):
        return 8

    def __getitem__(self, i):
        x = torch.tensor([float(i), 1.0])
        return dict(inputs=x, targets=x.sum(0, keepdim=True))


def _runner(work_dir, max_iters, resume=False, name='run'):
    torch.manual_seed(0)  # the same initial weights in every run
    return Runner(
        experiment_name=name,  # each run its own MessageHub
        model=ToyRegressor(),
        work_dir=work_dir,
        train_dataloader=dict(dataset=ToyData(), batch_size=2,
                              sampler=dict(type='InfiniteSampler', shuffle=True),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-2)),
        param_scheduler=dict(type='PolyLR', eta_min=0, power=0.9, end=6, by_epoch=False),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2,
                                           by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0),
        resume=resume,
        default_scope='mmengine')


def test_runner_resume_is_exact(tmp_path):
    straight = _runner(str(tmp_path / 'straight'), 6, name='straight')
    straight.train()

    first = _runner(str(tmp_path / 'split'), 4, name='first')
    first.train()
    ckpt = torch.load(osp.join(tmp_path, 'split', 'iter_4.pth'), weights_only=True)
    assert ckpt['meta']['iter'] == 4
    assert 'train/loss' in ckpt['message_hub']['log_scalars']

    resumed = _runner(str(tmp_path / 'split'), 6, resume=True, name='resumed')
    resumed.train()
    assert resumed.iter == 6
    for a, b in zip(straight.model.parameters(), resumed.model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # the loss history came back from the checkpoint and went on as if never stopped
    losses = resumed.message_hub.get_scalar('train/loss').data[0]
    expected = straight.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 6
    np.testing.assert_array_equal(losses, expected)


class NotAllowed:
    pass


def test_arbitrary_objects_are_still_refused(tmp_path):
    path = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict=dict(w=torch.zeros(1)), payload=NotAllowed()), path)
    with pytest.raises(Exception, match='weights_only|Unsupported global'):
        load_checkpoint(nn.Linear(1, 1), path)
