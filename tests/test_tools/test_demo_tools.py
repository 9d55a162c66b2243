"""`make demo`'s driver (tools/run_demo.py) and tools/demo.py, end to end on a short run."""
import json
import os
import pickle
import subprocess
import sys

from tests.utils import REPO


def _run(args, cwd):
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable] + args, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout + proc.stderr


def test_run_demo_then_image_demo(tmp_path):
    out = _run([f'{REPO}/tools/run_demo.py', '--iters', '3', '--grid-images', '2',
                '--threads', '1', '--work-dir', 'work_dirs/demo'], cwd=tmp_path)
    work = tmp_path / 'work_dirs' / 'demo'
    assert (tmp_path / 'data/toy/annotations/panoptic_val.json').exists()
    assert '[##########....................] 1/3' not in out  # interval 10: last only
    assert '] 3/3  loss' in out and 'ETA 0:00' in out
    assert 'Three-task results (test)' in out
    table = json.loads((work / 'task_metrics_test.json').read_text())
    assert set(table) >= {'panoptic', 'instance', 'semantic', 'iteration'}
    assert (work / 'grid.png').stat().st_size > 0 and (work / 'iter_3.pth').exists()
    assert f'{work.relative_to(tmp_path)}/grid.png' in out

    image = str(tmp_path / 'data/toy/val/val_000000.png')
    out = _run([f'{REPO}/tools/demo.py', image, '--config',
                f'{REPO}/configs/oneformer_r18_toy.py', '--checkpoint',
                str(work / 'iter_3.pth'), '--task', 'all', '--out-dir', 'vis',
                '--out', 'preds.pkl'], cwd=tmp_path)
    for name in ('panoptic', 'instance', 'semantic', 'grid'):
        assert (tmp_path / 'vis' / f'val_000000_{name}.jpg').exists(), out
    with open(tmp_path / 'preds.pkl', 'rb') as f:
        preds = pickle.load(f)
    assert {'pred_panoptic_seg', 'pred_instances', 'pred_sem_seg'} <= set(preds[0])
    assert preds[0]['pred_sem_seg']['sem_seg'].shape == (1, 128, 128)

    _run([f'{REPO}/tools/demo.py', image, '--config',
          f'{REPO}/configs/oneformer_r18_toy.py', '--checkpoint',
          str(work / 'iter_3.pth'), '--task', 'semantic', '--out-dir', 'vis2'],
         cwd=tmp_path)
    assert sorted(os.listdir(tmp_path / 'vis2')) == ['val_000000_semantic.jpg']

    # mmdet's own tools/test.py (shipped in its package) runs our config through
    # custom_imports, loading our checkpoint under torch's weights_only default
    import mmdet
    mmdet_test = os.path.join(os.path.dirname(mmdet.__file__), '.mim/tools/test.py')
    out = _run([mmdet_test, f'{REPO}/configs/oneformer_r18_toy.py',
                str(work / 'iter_3.pth'), '--work-dir', 'mmdet_test',
                '--out', 'test_preds.pkl'], cwd=tmp_path)
    assert 'coco_panoptic/PQ' in out and 'coco/segm_mAP' in out and 'sem_seg/mIoU' in out
    assert (tmp_path / 'mmdet_test' / 'task_metrics_test.json').exists()
    # the dumped panoptic map is the one tools/demo.py predicts: scoring PQ
    # (mmdet's CocoPanopticMetric writes VOID over a CPU map) left it alone
    with open(tmp_path / 'test_preds.pkl', 'rb') as f:
        dumped = [p for p in pickle.load(f) if p['img_path'].endswith('val_000000.png')]
    assert len(dumped) == 1
    assert (dumped[0]['pred_panoptic_seg']['sem_seg']
            == preds[0]['pred_panoptic_seg']['sem_seg']).all()
