"""Task plugins: base class and registry."""

from nca.engine.rule_config import preset_rule_values, preset_task_values
from nca.engine.run import RunContext
from nca.tasks.base import RESERVED_OPTIONS, Task, check_task_class
from nca.tasks.registry import (
    TASKS,
    TaskInfo,
    create_task,
    get_task_class,
    list_tasks,
    register_task,
    resolve_task_config,
    task_info,
)
from nca.tasks.stored_run import (
    StoredRun,
    evaluate_run,
    load_run,
    load_subject,
    trained_task,
)

__all__ = [
    "RESERVED_OPTIONS",
    "TASKS",
    "RunContext",
    "StoredRun",
    "Task",
    "TaskInfo",
    "check_task_class",
    "create_task",
    "evaluate_run",
    "get_task_class",
    "list_tasks",
    "load_run",
    "load_subject",
    "preset_rule_values",
    "preset_task_values",
    "register_task",
    "resolve_task_config",
    "task_info",
    "trained_task",
]
