"""``--resume`` names the checkpoint it cannot resume, and the newest complete one."""
import os.path as osp

import pytest
import torch

from projects.common.resume import resume_checkpoint


def _save(work_dir, name, truncate=False):
    path = osp.join(work_dir, name)
    torch.save({'meta': {'iter': 1}}, path)
    if truncate:  # what a kill while writing in place leaves
        with open(path, 'rb') as f:
            data = f.read()
        with open(path, 'wb') as f:
            f.write(data[:len(data) // 2])
    return path


def _point(work_dir, path):
    with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(path)


def test_auto_resume_without_checkpoint_says_so(tmp_path, monkeypatch):
    logged = []
    monkeypatch.setattr('projects.common.resume.print_log',
                        lambda msg, **kwargs: logged.append(msg))
    assert resume_checkpoint('auto', str(tmp_path)) is None
    assert 'no checkpoint to resume' in logged[0]


def test_auto_resume_picks_last_checkpoint(tmp_path):
    path = _save(str(tmp_path), 'iter_4.pth')
    _point(str(tmp_path), path)
    assert resume_checkpoint('auto', str(tmp_path)) == path


def test_truncated_checkpoint_is_refused_naming_a_complete_one(tmp_path):
    work_dir = str(tmp_path)
    good = _save(work_dir, 'iter_2.pth')
    bad = _save(work_dir, 'iter_4.pth', truncate=True)
    _point(work_dir, bad)
    with pytest.raises(ValueError, match=rf'{bad} \(named by .*last_checkpoint\) '
                       rf'is not a complete checkpoint .*--resume {good}'):
        resume_checkpoint('auto', work_dir)
    with pytest.raises(ValueError, match=rf'{bad} is not a complete checkpoint'):
        resume_checkpoint(bad, work_dir)


def test_missing_checkpoint_is_refused(tmp_path):
    work_dir = str(tmp_path)
    _point(work_dir, osp.join(work_dir, 'iter_8.pth'))
    with pytest.raises(ValueError, match=r'iter_8\.pth \(named by .*\) does not '
                       r'exist; train without --resume'):
        resume_checkpoint('auto', work_dir)
    with pytest.raises(ValueError, match=r'nope\.pth does not exist'):
        resume_checkpoint(osp.join(work_dir, 'nope.pth'), work_dir)
