from fastapi import BackgroundTasks, FastAPI, WebSocket

import anyio
from tasktail import ConnectionManager
from tasktail.manager.starlette import stream_task

app = FastAPI()
manager = ConnectionManager(history_size=500)  # keep 500 lines so a reloaded page resumes


async def process_csv(task_id: str, rows: int, pace: float) -> None:
    for row in range(1, rows + 1):
        await manager.send_log(task_id, "info", f"row {row}/{rows}", progress=100 * row / rows)
        await anyio.sleep(pace)  # stands in for real work
    await manager.send_log(task_id, "success", f"{rows} rows done", progress=100, finished=True)


@app.post("/tasks/{task_id}")
async def start_task(task_id: str, background: BackgroundTasks, rows: int = 20, pace: float = 0.5):
    background.add_task(process_csv, task_id, rows, pace)
    return {"logs": f"/ws/{task_id}"}


@app.websocket("/ws/{task_id}")
async def task_logs(websocket: WebSocket, task_id: str):
    await stream_task(websocket, manager, task_id)  # ?after_seq=N resumes
