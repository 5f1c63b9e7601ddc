"""`registry-sync dev-registry`: run the Model Registry stand-in (tests and the demo only)."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import sys
from pathlib import Path

import click
from aiohttp import web

from registry_sync.devregistry.app import build_application
from registry_sync.devregistry.state_file import StateFile, StateFileError
from registry_sync.devregistry.store import RegistryStore


def _server_url(scheme: str, host: str, port: int) -> str:
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


async def serve(
    application: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None
) -> None:
    """Serve until SIGTERM or SIGINT; the first stdout line says where, once listening."""
    runner = web.AppRunner(application)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        try:
            await site.start()
        except OSError as error:
            raise click.ClickException(f"cannot listen on {host}:{port}: {error}") from None
        bound_port = runner.addresses[0][1]
        scheme = "https" if ssl_context else "http"
        click.echo(f"listening on {_server_url(scheme, host, bound_port)}")
        sys.stdout.flush()
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signal_number, stopping.set)
        await stopping.wait()
    finally:
        await runner.cleanup()


@click.command("dev-registry")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    required=True,
    help="Port to listen on; 0 picks a free one (printed on the first line).",
)
@click.option(
    "--data",
    "data_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON file to load the registry from at start (if it exists) and save after each write.",
)
@click.option(
    "--tls-cert-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM certificate chain: serve HTTPS (with --tls-key-file).",
)
@click.option(
    "--tls-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM private key of --tls-cert-file.",
)
def dev_registry(
    host: str,
    port: int,
    data_file: Path | None,
    tls_cert_file: Path | None,
    tls_key_file: Path | None,
) -> None:
    """Run the Model Registry stand-in, for tests and the demo only.

    It serves /api/model_registry/v1alpha3 like the real server, from memory (or from
    --data), and prints `listening on http://HOST:PORT` once ready. Stop it with SIGTERM
    or Ctrl-C.
    """
    if (tls_cert_file is None) != (tls_key_file is None):
        raise click.UsageError(
            "--tls-cert-file and --tls-key-file go together: give both to serve HTTPS, "
            "or neither for HTTP"
        )
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")
    state_file = StateFile(data_file) if data_file is not None else None
    try:
        store = state_file.load() if state_file is not None else RegistryStore()
    except StateFileError as error:
        raise click.ClickException(str(error)) from None

    def persist() -> None:
        if state_file is not None:
            state_file.save(store)

    ssl_context: ssl.SSLContext | None = None
    if tls_cert_file is not None and tls_key_file is not None:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ssl_context.load_cert_chain(tls_cert_file, tls_key_file)
        except (ssl.SSLError, OSError) as error:
            raise click.ClickException(
                f"cannot use {tls_cert_file} with key {tls_key_file} for TLS: {error}"
            ) from None
    asyncio.run(serve(build_application(store, persist), host, port, ssl_context))
