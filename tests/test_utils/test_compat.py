"""A transformers that breaks mmpretrain's import must not break mmdet (or us)."""
import os
import subprocess
import sys

from tests.utils import REPO

# With transformers >= 4.56, `import mmpretrain.models` fails while defining a subclass
# of transformers' PreTrainedModel. This stand-in mmpretrain fails the same way (checked
# by hand against the real transformers 4.57.6, which tests cannot install offline).
FAKE_MODELS = '''
PreTrainedModel = None
class BertPreTrainedModel(PreTrainedModel):
    pass
'''


def test_too_new_transformers_gives_warning_not_traceback(tmp_path):
    pkg = tmp_path / 'mmpretrain'
    (pkg / 'models').mkdir(parents=True)
    (pkg / '__init__.py').write_text('__version__ = "1.2.0"\n')
    (pkg / 'models' / '__init__.py').write_text(FAKE_MODELS)
    code = ('import projects.oneformer\n'
            'import mmdet.models\n'
            'from mmdet.registry import MODELS\n'
            'assert MODELS.get("Mask2Former") is not None\n'
            'print("mmdet ok")\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), REPO]))
    proc = subprocess.run([sys.executable, '-W', 'always', '-c', code], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'mmdet ok' in proc.stdout
    assert 'mmpretrain failed to import' in proc.stderr
    assert 'NoneType takes no arguments' in proc.stderr
    assert 'transformers>=4.46.3,<4.56' in proc.stderr

    # without the plugin's guard the same environment breaks mmdet: the test is real
    proc = subprocess.run([sys.executable, '-c', 'import mmdet.models'], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and 'TypeError' in proc.stderr
