"""The ceiling bench_serving measures against: FastAPI with one endpoint returning a constant.

uvicorn bench.bare_app:app  ->  GET /constant
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/constant")
async def constant() -> dict[str, str]:
    return {"status": "ok"}
