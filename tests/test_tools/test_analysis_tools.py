"""mmdet's own analysis tools run in the project's environment: their optional
packages (requirements/analysis.txt) are installed by the set-up."""
import json
import os
import os.path as osp
import subprocess
import sys

import mmdet

from tests.utils import REPO

TOOLS = osp.join(osp.dirname(mmdet.__file__), '.mim/tools/analysis_tools')


def _run(args, cwd):
    proc = subprocess.run([sys.executable] + args, cwd=cwd, capture_output=True,
                          text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=REPO, MPLBACKEND='Agg'))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return proc.stdout


def test_plot_curve_of_a_training_log(tmp_path):
    # mmengine's scalar log (work_dir/<time>/vis_data/scalars.json); seaborn
    with open(tmp_path / 'scalars.json', 'w') as f:
        for i in range(1, 6):
            f.write(json.dumps(dict(lr=1e-3, loss=5.0 / i, iter=i, step=i)) + '\n')
    _run([osp.join(TOOLS, 'analyze_logs.py'), 'plot_curve', 'scalars.json',
          '--keys', 'loss', '--out', 'curve.png'], tmp_path)
    assert (tmp_path / 'curve.png').stat().st_size > 0


def test_benchmark_tool_starts(tmp_path):
    # mmdet.utils.benchmark needs psutil at import time
    assert '--task {inference,dataloader,dataset}' in _run(
        [osp.join(TOOLS, 'benchmark.py'), '--help'], tmp_path)
