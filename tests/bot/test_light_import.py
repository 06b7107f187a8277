"""The bot layer loads no bot framework, and no HTTP client until it talks to a server."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import asyncio, sys
from botsessions import Bot, Composer, Context
from botsessions.bot import Message, NextFn

bot = Bot("1:token", bot_info={"id": 1, "is_bot": True, "first_name": "B", "username": "b"})
feature = Composer()
feature.command("start", lambda ctx: None)
bot.use(feature)
seen = []
bot.on("message:text", lambda ctx: seen.append(ctx.message.text) or asyncio.sleep(0))
update = {"update_id": 1, "message": {"message_id": 1, "date": 1,
          "chat": {"id": 1, "type": "private"}, "text": "hi"}}
asyncio.run(bot.handle_update(update))
assert seen == ["hi"], seen
heavy = {"aiogram", "aiohttp", "h11", "telegram"}
loaded = sorted({m.split(".")[0] for m in sys.modules} & heavy)
print(",".join(loaded))
"""


def test_building_a_bot_and_handling_an_update_needs_no_http_client() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == ""


FIRST_CALL = """
import asyncio, json, sys
from botsessions.bot import Api

async def answer(reader, writer):
    head = await reader.readuntil(b"\\r\\n\\r\\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\\r\\n")
                  if line.lower().startswith(b"content-length:"))
    await reader.readexactly(length)
    me = {"id": 1, "is_bot": True, "first_name": "B", "username": "first_call_bot"}
    body = json.dumps({"ok": True, "result": me}).encode()
    writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n%s" % (len(body), body))
    await writer.drain()
    writer.close()

async def main():
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    api = Api("1:x", server=f"http://127.0.0.1:{port}")
    print("before:", ",".join(sorted({"aiohttp", "h11"} & set(sys.modules))) or "-")
    async with api:
        print("username:", (await api.get_me()).username)
    server.close()
    await server.wait_closed()

asyncio.run(main())
from botsessions.bot import _http
print("after:", ",".join(sorted({"aiogram", "aiohttp", "h11"} & set(sys.modules))))
print("tls context:", _http._tls_context is not None)
"""


def test_the_first_api_call_loads_h11_but_no_aiohttp_and_no_tls_over_http() -> None:
    result = subprocess.run(
        [sys.executable, "-c", FIRST_CALL], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.splitlines() == [
        "before: -",
        "username: first_call_bot",
        "after: h11",
        "tls context: False",
    ]
