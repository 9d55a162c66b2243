"""tools/analysis_tools/get_flops.py: FLOPs of one task's inference pass (or the
three-task pass) at a given input size, without the dataset on disk."""
import os
import os.path as osp
import subprocess
import sys

from mmengine.config import Config

from tests.utils import REPO, _load_tool

TOY = osp.join(REPO, 'configs/oneformer_r18_toy.py')


def test_one_task_and_three_task_passes():
    tool = _load_tool('tools/analysis_tools/get_flops.py')
    info = {task: tool.model_complexity(Config.fromfile(TOY), (64, 96), task)
            for task in ('semantic', 'all')}
    # three tasks share backbone and pixel decoder: the three-task pass costs
    # more than one task's, less than three
    assert 0 < info['semantic']['flops'] < info['all']['flops'] < 3 * info['semantic']['flops']
    # parameters at inference: no text mapper
    assert 'text_mapper' not in info['all']['out_table']


def test_command_line_without_the_dataset(tmp_path):
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/analysis_tools/get_flops.py'), TOY,
         '--shape', '64', '64', '--task', 'semantic'], cwd=tmp_path,
        capture_output=True, text=True, timeout=600,
        env=dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert 'Input shape: (64, 64)  task: semantic' in proc.stdout
    assert 'Flops: ' in proc.stdout and 'Params: ' in proc.stdout
    assert not (tmp_path / 'data').exists()  # data_root is relative to the cwd
