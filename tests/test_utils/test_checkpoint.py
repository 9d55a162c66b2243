"""Runner checkpoints save and resume under torch >= 2.6 without ``weights_only=False``;
resume restores every generator (RandomStateHook); checkpoints are written atomically."""
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint

import projects.oneformer  # noqa: F401  installs the allow-list


class ToyRegressor(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, targets, mode='tensor'):
        # draws from torch's generator, as dropout and point sampling do
        pred = self.linear(inputs + torch.randn_like(inputs))
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


class ToyMetric(BaseMetric):

    def process(self, data_batch, data_samples):
        self.results.append(float(data_samples[0].mean()))

    def compute_metrics(self, results):
        return dict(mean=sum(results))


def _runner(work_dir, max_iters, resume=False, name='run', hooks=True, val=False):
    torch.manual_seed(0)  # the same initial weights in every run
    validation = dict(
        val_dataloader=dict(dataset=ToyData(), batch_size=2,
                            sampler=dict(type='DefaultSampler', shuffle=False),
                            collate_fn=dict(type='default_collate')),
        val_evaluator=dict(type=ToyMetric), val_cfg=dict()) if val else {}
    return Runner(
        **validation,
        experiment_name=name,  # each run its own MessageHub
        model=ToyRegressor(),
        work_dir=work_dir,
        train_dataloader=dict(dataset=ToyData(), batch_size=2,
                              sampler=dict(type='InfiniteSampler', shuffle=True),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-2)),
        param_scheduler=dict(type='PolyLR', eta_min=0, power=0.9, end=6, by_epoch=False),
        train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=2),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2,
                                           by_epoch=False,
                                           backend_args=dict(backend='local_atomic')),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='RandomStateHook')] if hooks else None,
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
    assert len(ckpt['random_states']) == 1

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


def _straight_and_resumed(tmp_path, tag, **kwargs):
    """6 iterations straight, and 4 then resumed to 6 (trained runners)."""
    straight = _runner(str(tmp_path / 'straight'), 6, name=f'straight{tag}',
                       **kwargs)
    straight.train()
    _runner(str(tmp_path / 'split'), 4, name=f'first{tag}', **kwargs).train()
    resumed = _runner(str(tmp_path / 'split'), 6, resume=True,
                      name=f'resumed{tag}', **kwargs)
    resumed.train()
    return straight, resumed


def test_validation_leaves_the_generators_alone(tmp_path):
    """Validation at a checkpoint's iteration draws from torch's generator (its
    dataloader's seed) after the checkpoint is saved; the resumed run skips it."""
    straight, resumed = _straight_and_resumed(tmp_path, 'val', val=True)
    for a, b in zip(straight.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b)


def test_resume_without_random_states_drifts(tmp_path):
    """What RandomStateHook fixes: without it the resumed run's torch generator is
    back at its seeded state and the weights differ."""
    straight, resumed = _straight_and_resumed(tmp_path, '0', hooks=False)
    assert not all(torch.equal(a, b) for a, b in zip(straight.model.parameters(),
                                                      resumed.model.parameters()))


def test_atomic_backend_leaves_no_partial_file(tmp_path, monkeypatch):
    from mmengine.fileio import get_file_backend
    path = str(tmp_path / 'iter_2.pth')
    backend = get_file_backend(path, backend_args=dict(backend='local_atomic'))
    backend.put(b'old', path)

    def killed(*args):
        raise KeyboardInterrupt  # as a signal arriving between write and rename
    monkeypatch.setattr('os.replace', killed)
    with pytest.raises(KeyboardInterrupt):
        backend.put(b'new checkpoint', path)
    with open(path, 'rb') as f:
        assert f.read() == b'old'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['iter_2.pth']


def test_epoch_based_resume_is_exact(tmp_path):
    """Epoch-based loops replay no batches: the states are set at the epoch start."""

    def runner(work_dir, max_epochs, name, resume=False):
        torch.manual_seed(0)
        return Runner(
            experiment_name=name, model=ToyRegressor(), work_dir=work_dir,
            train_dataloader=dict(dataset=ToyData(), batch_size=2,
                                  sampler=dict(type='DefaultSampler', shuffle=True),
                                  collate_fn=dict(type='default_collate')),
            optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-2)),
            train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
            default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
            custom_hooks=[dict(type='RandomStateHook')],
            randomness=dict(seed=0), resume=resume, default_scope='mmengine')

    straight = runner(str(tmp_path / 'straight'), 3, 'straight_epochs')
    straight.train()
    runner(str(tmp_path / 'split'), 2, 'first_epochs').train()
    resumed = runner(str(tmp_path / 'split'), 3, 'resumed_epochs', resume=True)
    resumed.train()
    assert resumed.epoch == 3
    for a, b in zip(straight.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b)


class NotAllowed:
    pass


def test_arbitrary_objects_are_still_refused(tmp_path):
    path = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict=dict(w=torch.zeros(1)), payload=NotAllowed()), path)
    with pytest.raises(Exception, match='weights_only|Unsupported global'):
        load_checkpoint(nn.Linear(1, 1), path)
