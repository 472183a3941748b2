"""Generations as native MCP tasks, on both protocol eras (see `extension.py` and `legacy.py`).

`task_support(app)` builds the parts `create_server` registers: the tasks extension (`extensions=`) and the
2025-11-25 middleware (`middleware=`), sharing one `TaskBook`.
"""

from __future__ import annotations

from dataclasses import dataclass

from veo_mcp.app import App
from veo_mcp.mcp.tasks.book import TTL_DEFAULT_MS, TTL_MAX_MS, TTL_MIN_MS, TaskBook
from veo_mcp.mcp.tasks.extension import TasksExtension
from veo_mcp.mcp.tasks.legacy import LegacyTasks, StatusNotifications
from veo_mcp.mcp.tasks.wire import TASK_TOOLS, TASKS_EXTENSION

__all__ = [
    "TASKS_EXTENSION",
    "TASK_TOOLS",
    "TTL_DEFAULT_MS",
    "TTL_MAX_MS",
    "TTL_MIN_MS",
    "TaskBook",
    "TaskSupport",
    "task_support",
]


@dataclass(frozen=True, slots=True)
class TaskSupport:
    book: TaskBook
    extension: TasksExtension
    middleware: LegacyTasks


def task_support(app: App) -> TaskSupport:
    book = TaskBook(app)
    notifications = StatusNotifications()
    book.subscribe(notifications)
    return TaskSupport(book, TasksExtension(book, notifications), LegacyTasks(book, notifications))
