"""The runtimes served through the Lambda Runtime API, in one table.

faas's own Python runtime (python3.x) runs the handler inside the worker process. Every other
runtime is a *bootstrap command*: the worker becomes a small supervisor that serves the
Runtime API (`AWS_LAMBDA_RUNTIME_API`) and starts the command as its child, inside the same
sandbox (runtimes/python/supervisor.py; docs/runtimes.md). A runtime id maps to its command
here and nowhere else:

- an empty command: the function's own executable `bootstrap`, looked for at the root of its
  code (`$LAMBDA_TASK_ROOT/bootstrap`), then in its layers (`/opt/bootstrap`): Lambda's
  OS-only runtimes;
- otherwise an argv; `{runtime_dir}` stands for faas's runtimes directory as the worker sees
  it (read-only), so a bootstrap faas ships is found there. The runtime is offered only on a
  host where the command's program is found on the workers' PATH.

Pure data: which of these a host offers is decided by faas.config (Settings.available_runtimes).
"""

from __future__ import annotations

from dataclasses import dataclass

RUNTIME_DIR_PLACEHOLDER = "{runtime_dir}"
# The PATH every worker starts with (a bootstrap command's program is looked up on it).
WORKER_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True, slots=True)
class CustomRuntime:
    """A runtime id whose workers run a bootstrap command behind the Runtime API."""

    name: str
    command: tuple[str, ...] = ()
    # Variables the runtime's workers get besides Lambda's own (a function's own value of the
    # same name wins); `{runtime_dir}` is filled in as in the command.
    environment: tuple[tuple[str, str], ...] = ()

    @property
    def os_only(self) -> bool:
        """The function brings its own bootstrap (Lambda's provided.* runtimes)."""
        return not self.command

    @property
    def program(self) -> str | None:
        """The program the host must have for this runtime; None for OS-only ones."""
        return self.command[0] if self.command else None

    def argv(self, runtime_dir: str) -> list[str]:
        """The command as the worker runs it, with faas's runtimes directory filled in."""
        return [part.replace(RUNTIME_DIR_PLACEHOLDER, runtime_dir) for part in self.command]

    def environ(self, runtime_dir: str) -> dict[str, str]:
        return {
            name: value.replace(RUNTIME_DIR_PLACEHOLDER, runtime_dir)
            for name, value in self.environment
        }


# Where Lambda's Node.js 20 runtime looks for packages: a layer's, the runtime's own (the
# SDK), the function's.
NODE20_PATH = (
    "/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:"
    "/var/runtime:/var/task"
)

CUSTOM_RUNTIMES: tuple[CustomRuntime, ...] = (
    CustomRuntime("provided.al2023"),
    CustomRuntime("provided.al2"),
    # faas's Node.js runtime (docs/nodejs.md), offered where `node` is installed.
    CustomRuntime(
        "nodejs20.x",
        ("node", "{runtime_dir}/nodejs/bootstrap.js"),
        environment=(("NODE_PATH", NODE20_PATH),),
    ),
)

_BY_NAME = {runtime.name: runtime for runtime in CUSTOM_RUNTIMES}


def custom_runtime(name: str) -> CustomRuntime | None:
    """The custom runtime called `name`; None for faas's Python runtimes (and unknown ids)."""
    return _BY_NAME.get(name)
