"""The SLURM worker: each batch of states is one element of a job array.

``worker.py`` holds :class:`SlurmWorker` (submit, poll, gather); ``array.py``
lays out one submission's folder and script; ``queue.py`` asks SLURM
(``sbatch``, ``squeue``, ``sacct``, ``scancel``); ``run.py`` is what one
array element runs (``python -m pydra_lite.workers.slurm.run``).
"""

from pydra_lite.workers.slurm.worker import SlurmWorker

__all__ = ["SlurmWorker"]
