"""Keep ``import mmdet.models`` alive beside a ``transformers`` too new for mmpretrain.

mmdet imports mmpretrain inside ``try: ... except ImportError``. mmpretrain 1.2.0 imports
``transformers`` for its multimodal models, and with transformers >= 4.56 that raises a
TypeError, which mmdet does not catch, so every mmdet model import fails with a traceback
deep inside mmpretrain. Importing mmpretrain first here turns that into one clear warning
and makes mmpretrain look absent (an ImportError, which mmdet handles); only the
mmpretrain-backed backbones (ConvNeXt) are then unavailable.

transformers 4.50 stopped re-exporting ``GenerationMixin`` from
``transformers.modeling_utils``, where mmpretrain's OFA model imports it from; the
name is put back (it is the same class) so that mmpretrain, and its ConvNeXt, import.

cityscapesscripts 2.3.0 (the Cityscapes evaluators behind mmdet's CityScapesMetric)
calls ``np.in1d``, which numpy 2.4 removed; its evaluation modules get a numpy that
has it (see :func:`give_cityscapesscripts_in1d`), numpy itself stays untouched.
"""
import sys
import types
import warnings

import numpy

_FIX = ('pip install "transformers>=4.46.3,<4.56" (the versions mmpretrain 1.2.0 '
        'imports with)')


def _restore_generation_mixin() -> None:
    try:
        import transformers.modeling_utils as modeling_utils
        if not hasattr(modeling_utils, 'GenerationMixin'):
            from transformers.generation import GenerationMixin
            modeling_utils.GenerationMixin = GenerationMixin
    except Exception:  # noqa: BLE001  no or broken transformers: mmpretrain decides
        pass


def disable_broken_mmpretrain() -> bool:
    """Import mmpretrain's models; if that fails with anything but an ImportError,
    hide mmpretrain and warn. Returns True when mmpretrain was hidden."""
    if sys.modules.get('mmpretrain', False) is None:
        return True
    _restore_generation_mixin()
    try:
        import mmpretrain.models  # noqa: F401
    except ImportError:
        return False
    except Exception as err:  # noqa: BLE001  mmpretrain's import itself is broken
        for name in [m for m in sys.modules if m.split('.')[0] == 'mmpretrain']:
            del sys.modules[name]
        sys.modules['mmpretrain'] = None  # later imports raise ImportError
        try:
            import transformers
            found = f'transformers {transformers.__version__}'
        except Exception:  # noqa: BLE001
            found = 'the installed transformers'
        warnings.warn(
            f'mmpretrain failed to import beside {found} ({type(err).__name__}: '
            f'{err}); mmpretrain-backed backbones (ConvNeXt) are disabled. To enable '
            f'them: {_FIX}.', RuntimeWarning, stacklevel=2)
        return True
    return False


class _NumpyWithIn1d(types.ModuleType):
    """numpy plus ``in1d`` (removed in numpy 2.4), defined as numpy defined it:
    ``isin`` on the flattened first array."""

    def __init__(self) -> None:
        super().__init__('numpy')

    def __getattr__(self, name):
        return getattr(numpy, name)

    @staticmethod
    def in1d(ar1, ar2, assume_unique=False, invert=False):
        return numpy.isin(numpy.asarray(ar1).ravel(), ar2,
                          assume_unique=assume_unique, invert=invert)


def give_cityscapesscripts_in1d() -> bool:
    """Where numpy has no ``in1d``, replace the ``np`` of cityscapesscripts'
    evaluation modules by :class:`_NumpyWithIn1d`. Returns True when patched;
    nothing happens without cityscapesscripts (its users report that)."""
    if hasattr(numpy, 'in1d'):
        return False
    try:
        from cityscapesscripts.evaluation import \
            evalInstanceLevelSemanticLabeling as instance_eval
        from cityscapesscripts.evaluation import \
            evalPixelLevelSemanticLabeling as pixel_eval
    except Exception:  # noqa: BLE001  absent or broken: CityScapesMetric tells
        return False
    for module in (instance_eval, pixel_eval):
        if not isinstance(module.np, _NumpyWithIn1d):
            module.np = _NumpyWithIn1d()
    return True
