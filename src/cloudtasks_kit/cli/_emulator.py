"""``cloudtasks-kit emulator``: the local emulator (the ``[emulator]`` extra), and
``cloudtasks-kit emulator env``: the variables that point each client at it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__: list[str] = []


def register(commands: Any, arguments: list[str]) -> None:
    emulator = commands.add_parser(
        "emulator",
        help="run the local Cloud Tasks / Cloud Scheduler emulator (the [emulator] extra)",
        description="Run the emulator, or with `env` print how to point clients at it.",
    )
    try:
        from ..emulator import EmulatorConfig
        from ..emulator import _command as emulator_command
    except ImportError as exc:  # the [emulator] extra is not installed
        if arguments[:1] == ["emulator"]:
            sys.exit(
                f"cloudtasks-kit emulator needs {exc.name}: pip install 'cloudtasks-kit[emulator]'"
            )
        return
    emulator_command.add_arguments(emulator)
    emulator.set_defaults(run=_run)
    actions = emulator.add_subparsers(dest="action", metavar="[env]")
    env = actions.add_parser(
        "env",
        help="print the variables that point the kit, gcloud and the official clients at the "
        'emulator: eval "$(cloudtasks-kit emulator env)"',
    )
    defaults = EmulatorConfig()
    env.add_argument("--host", default=defaults.host, help="the emulator's address")
    env.add_argument("--port", type=int, default=defaults.port, help="its gRPC port")
    env.add_argument(
        "--http-port", type=int, default=None, help="its HTTP port (default: port + 1)"
    )
    env.set_defaults(run=_print_env)


def _run(args: argparse.Namespace) -> int:
    from ..emulator import _command as emulator_command
    from ..emulator._errors import StartError
    from ._common import CommandError

    try:
        result: int = emulator_command.run_from_args(args)
    except StartError as exc:  # a taken port, an unwritable --data, a bad --config
        raise CommandError(str(exc)) from exc
    return result


def _print_env(args: argparse.Namespace) -> int:
    from ..emulator import EmulatorConfig

    if args.port == 0 or args.http_port == 0:
        sys.exit("cloudtasks-kit emulator env: give the ports the emulator listens on, not 0")
    http_port = EmulatorConfig(port=args.port, http_port=args.http_port).resolved_http_port()
    host = f"[{args.host}]" if ":" in args.host else args.host
    grpc_target, http_target = f"{host}:{args.port}", f"{host}:{http_port}"
    print(
        _ENV.format(
            grpc=grpc_target, http=http_target, host=args.host, port=args.port, http_port=http_port
        ),
        end="",
    )
    return 0


# Shell lines, like `gcloud beta emulators pubsub env-init`; the comments say what the official
# clients take instead, since they read no variable for their endpoint.
_ENV = """\
# cloudtasks-kit: the kit's settings (CLOUDTASKS_TRANSPORT=rest uses the HTTP address)
export CLOUDTASKS_EMULATOR_HOST={grpc}
export CLOUDTASKS_EMULATOR_HTTP_HOST={http}
# gcloud tasks / gcloud scheduler (REST); the emulator never checks the token
export CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDTASKS=http://{http}/
export CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDSCHEDULER=http://{http}/
export CLOUDSDK_AUTH_ACCESS_TOKEN=emulator
# Python clients, REST: transport="rest", credentials=AnonymousCredentials(),
#   client_options={{"api_endpoint": "http://{http}"}}
# Python clients, gRPC: transport=CloudTasksGrpcTransport(channel=grpc.insecure_channel("{grpc}"))
# Node.js clients, gRPC: {{servicePath: "{host}", port: {port},
#   sslCreds: grpc.credentials.createInsecure()}}
# Node.js clients, REST: {{servicePath: "{host}", port: {http_port}, fallback: true,
#   protocol: "http", authClient: new PassThroughClient()}}
"""
