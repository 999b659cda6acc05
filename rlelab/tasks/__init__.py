"""The tasks one trainer learns, a file each (``coco.py``, ``mpii.py``, ``h36m.py``, ``oct.py``: joints, reader, paths,
metric, the way back to the image), named for configs (``task: mpii``); ``task.py`` says what a task is. The
trainer, ``evaluate`` and ``predict`` take a ``Task``.
"""
from .coco import TASK as COCO
from .h36m import TASK as H36M
from .mpii import TASK as MPII
from .oct import TASK as OCT
from .task import Layout, Task

TASKS = {task.name: task for task in (COCO, MPII, H36M, OCT)}
__all__ = ["COCO", "H36M", "MPII", "OCT", "TASKS", "Layout", "Task"]
