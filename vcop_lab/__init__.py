"""vcop-lab: self-supervised video representation learning by clip order prediction.

The package follows the paper's sections: ``data`` (videos, manifests, samplers, the
synthetic set), ``models`` (C3D, R3D, R(2+1)D, the order head, E-SA), ``train`` (the one
training loop), ``pretrain`` and ``curriculum`` (the pretext task), and the evaluations:
order accuracy, retrieval, fine-tuning and VideoQA.
"""

__version__ = "0.1.0"
