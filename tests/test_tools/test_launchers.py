"""The shell launchers run the project's .venv (or $PYTHON) and say which."""
import os
import os.path as osp
import subprocess

import pytest

from tests.utils import REPO

VENV_PYTHON = osp.join(REPO, '.venv', 'bin', 'python')


def _launch(tmp_path, **env):
    script = tmp_path / 'where.py'
    script.write_text('import sys; print("interpreter:", sys.executable)\n')
    # no venv activated and no python on PATH: only the launcher's choice runs
    base = {k: v for k, v in os.environ.items()
            if k not in ('PYTHON', 'VIRTUAL_ENV', 'PYTHONPATH')}
    base.update(PATH='/usr/bin:/bin', OMP_NUM_THREADS='1', PORT='29641', **env)
    return subprocess.run(['bash', 'tools/torchrun.sh', '1', str(script)],
                          cwd=REPO, env=base, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.skipif(not osp.exists(VENV_PYTHON), reason='no .venv (make install)')
def test_torchrun_uses_the_project_venv(tmp_path):
    proc = _launch(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f'running {VENV_PYTHON}' in proc.stderr
    assert 'interpreter: ' + VENV_PYTHON in proc.stdout.replace(
        osp.realpath(VENV_PYTHON), VENV_PYTHON)


def test_torchrun_names_a_missing_interpreter(tmp_path):
    proc = _launch(tmp_path, PYTHON='no-such-python')
    assert proc.returncode == 1
    assert "no interpreter 'no-such-python'" in proc.stderr
    assert 'PYTHON' in proc.stderr
