"""Keep ``import mmdet.models`` alive beside a ``transformers`` too new for mmpretrain.

mmdet imports mmpretrain inside ``try: ... except ImportError``. mmpretrain 1.2.0 imports
``transformers`` for its multimodal models, and with transformers >= 4.56 that raises a
TypeError, which mmdet does not catch, so every mmdet model import fails with a traceback
deep inside mmpretrain. Importing mmpretrain first here turns that into one clear warning
and makes mmpretrain look absent (an ImportError, which mmdet handles); only the
mmpretrain-backed backbones (ConvNeXt) are then unavailable.
"""
import sys
import warnings

_FIX = ('pip install "transformers>=4.46.3,<4.56" (the versions mmpretrain 1.2.0 '
        'imports with)')


def disable_broken_mmpretrain() -> bool:
    """Import mmpretrain's models; if that fails with anything but an ImportError,
    hide mmpretrain and warn. Returns True when mmpretrain was hidden."""
    if sys.modules.get('mmpretrain', False) is None:
        return True
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
