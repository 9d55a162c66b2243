"""Query-text contrastive loss: single-process math and 2-process (gloo) equivalence."""
import math
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from projects.oneformer.models.contrastive_loss import QueryTextContrastiveLoss

B, N, C, WORLD = 4, 5, 8, 2


def _batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(B, N, C, generator=g), torch.randn(B, N, C, generator=g)


def _reference(q, t, scale):
    """Eq. 1 written out: B x B similarities of flattened, normalised queries."""
    qf = F.normalize(q.flatten(1), dim=-1)
    tf = F.normalize(t.flatten(1), dim=-1)
    sim = qf @ tf.t() * scale
    labels = torch.arange(len(q))
    return 0.5 * (F.cross_entropy(sim, labels) + F.cross_entropy(sim.t(), labels))


def test_single_process_matches_equation_and_init():
    loss_fn = QueryTextContrastiveLoss()
    assert loss_fn.logit_scale.item() == pytest.approx(math.log(1 / 0.07))
    q, t = _batch()
    torch.testing.assert_close(loss_fn(q, t), _reference(q, t, 1 / 0.07))
    with torch.no_grad():
        loss_fn.logit_scale.fill_(10.0)  # exp(10) > 100: clamped
    torch.testing.assert_close(loss_fn(q, t), _reference(q, t, 100.0))
    # matched pairs give a lower loss than shuffled ones
    assert loss_fn(q, q) < loss_fn(q, t)
    with pytest.raises(ValueError, match='same shape'):
        loss_fn(q, t[:, :3])


def _worker(rank, init_file, with_grad, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                            world_size=WORLD)
    try:
        q, t = _batch()
        b = B // WORLD
        ql = q[rank * b:(rank + 1) * b].clone().requires_grad_()
        tl = t[rank * b:(rank + 1) * b].clone().requires_grad_()
        loss_fn = (QueryTextContrastiveLoss() if with_grad is None else
                   QueryTextContrastiveLoss(gather_with_grad=with_grad))
        loss = loss_fn(ql, tl)
        loss.backward()
        torch.save(dict(loss=loss.detach(), q=ql.grad, t=tl.grad,
                        scale=loss_fn.logit_scale.grad),
                   os.path.join(out_dir, f'{rank}.pt'))
    finally:
        dist.destroy_process_group()


def _run_two_ranks(tmp_path, with_grad):
    # forkserver: the ranks fork from a fresh server that imported this module
    # once. A plain fork would inherit the state of every earlier test in this
    # process, and torch refuses autograd in a child forked after the parent's
    # autograd engine started threads.
    mp.set_forkserver_preload([__name__])
    mp.start_processes(_worker, args=(str(tmp_path / 'init'), with_grad, str(tmp_path)),
                       nprocs=WORLD, join=True, start_method='forkserver')
    ranks = [torch.load(tmp_path / f'{r}.pt') for r in range(WORLD)]
    # What DDP does: average the per-rank losses and parameter gradients; a rank's
    # input gradient enters that average with weight 1 / WORLD.
    loss = sum(r['loss'] for r in ranks) / WORLD
    grad_q = torch.cat([r['q'] for r in ranks]) / WORLD
    grad_t = torch.cat([r['t'] for r in ranks]) / WORLD
    grad_scale = sum(r['scale'] for r in ranks) / WORLD
    return loss, grad_q, grad_t, grad_scale


def _single(q, t):
    q, t = q.clone().requires_grad_(), t.clone().requires_grad_()
    loss_fn = QueryTextContrastiveLoss()
    loss = loss_fn(q, t)
    loss.backward()
    return loss.detach(), q.grad, t.grad, loss_fn.logit_scale.grad


def test_two_ranks_default_gradient_equals_single_process(tmp_path):
    """The default (released, diffdist-style) gather: the DDP-averaged gradient
    of 2 ranks equals the single-process gradient of the whole batch."""
    loss, grad_q, grad_t, grad_scale = _run_two_ranks(tmp_path, with_grad=None)
    ref = _single(*_batch())
    for got, want in zip((loss, grad_q, grad_t, grad_scale), ref):
        assert (got - want).abs().max() <= 1e-6


def test_two_ranks_gather_without_grad(tmp_path):
    """gather_with_grad=False: same loss and temperature gradient; input
    gradients lack the cross-rank terms, i.e. equal those of each rank's rows
    with the other rank's features held constant."""
    loss, grad_q, grad_t, grad_scale = _run_two_ranks(tmp_path, with_grad=False)
    q, t = _batch()
    ref_loss, ref_q, ref_t, ref_scale = _single(q, t)
    assert (loss - ref_loss).abs() <= 1e-6
    assert (grad_scale - ref_scale).abs() <= 1e-6
    assert (grad_q - ref_q).abs().max() > 1e-4  # the cross-rank terms are missing

    b = B // WORLD
    local_q, local_t = [], []
    for r in range(WORLD):
        rows = slice(r * b, (r + 1) * b)
        qr, tr = q[rows].clone().requires_grad_(), t[rows].clone().requires_grad_()
        q_all, t_all = q.clone(), t.clone()
        q_all[rows], t_all[rows] = qr, tr
        qn = F.normalize(q_all.flatten(1), dim=-1)
        tn = F.normalize(t_all.flatten(1), dim=-1)
        labels = torch.arange(b) + r * b
        scale = 1 / 0.07
        loss_r = 0.5 * (F.cross_entropy(qn[rows] @ tn.t() * scale, labels) +
                        F.cross_entropy(tn[rows] @ qn.t() * scale, labels))
        (loss_r / WORLD).backward()
        local_q.append(qr.grad)
        local_t.append(tr.grad)
    assert (grad_q - torch.cat(local_q)).abs().max() <= 1e-6
    assert (grad_t - torch.cat(local_t)).abs().max() <= 1e-6
