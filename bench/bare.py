"""The baseline receiver: a Starlette endpoint that reads the body and returns 200, nothing else."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def accept(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"status": "queued"})


app = Starlette(routes=[Route("/webhooks/dodo", accept, methods=["POST"])])
