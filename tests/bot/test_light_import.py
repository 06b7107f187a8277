"""The bot layer loads no bot framework and no HTTP client until it talks to a server."""

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
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"aiogram", "aiohttp", "telegram"})
print(",".join(loaded))
"""


def test_building_a_bot_and_handling_an_update_needs_no_http_client() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == ""


def test_the_first_api_call_imports_aiohttp() -> None:
    script = (
        "import sys\n"
        "from botsessions.bot import Api\n"
        "api = Api('1:x', server='http://127.0.0.1:9')\n"
        "assert 'aiohttp' not in sys.modules\n"
        "import asyncio\n"
        "async def main():\n"
        "    async with api:\n"
        "        try:\n"
        "            await api.get_me()\n"
        "        except Exception as exc:\n"
        "            print(type(exc).__name__)\n"
        "asyncio.run(main())\n"
        "print('aiohttp' in sys.modules, 'aiogram' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.split() == ["NetworkError", "True", "False"]
