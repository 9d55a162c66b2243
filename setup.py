"""OneFormer for OpenMMLab: universal image segmentation as an mmdet/mmseg plugin."""
from setuptools import find_packages, setup


def parse_requirements(path):
    with open(path) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


setup(
    name='oneformer-mm',
    version='0.1.0',
    description='OneFormer (one model for semantic, instance and panoptic '
    'segmentation) for mmdetection 3.x and mmsegmentation 1.x',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['projects', 'projects.*']),
    python_requires='>=3.9',
    # mmcv is compiled by tools/setup_env.sh (there is no binary wheel for this torch)
    install_requires=parse_requirements('requirements/runtime.txt') + ['mmcv==2.1.0'],
    extras_require={
        'tests': parse_requirements('requirements/tests.txt'),
        'optional': parse_requirements('requirements/optional.txt'),
        'analysis': parse_requirements('requirements/analysis.txt'),
    },
    license='Apache License 2.0',
)
