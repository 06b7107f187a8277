import os
import sys

from botsessions import Bot, Context, MemorySessionStorage, session

token = os.environ.get("BOT_TOKEN")
if not token:
    sys.exit("Set BOT_TOKEN to your bot's token from @BotFather: BOT_TOKEN=123:abc python bot.py")

# Bot API server: $BOT_API_SERVER when set (a local one, to run offline), else Telegram.
bot = Bot(token)

# One session per chat, starting at zero. Memory forgets on restart; SQLiteStorage("bot.db")
# from botsessions.storage keeps sessions in a file.
storage: MemorySessionStorage[dict[str, int]] = MemorySessionStorage()
bot.use(session(initial=lambda: {"count": 0}, storage=storage))


# Context[S] tells the type checker what ctx.session holds.
@bot.on("message")
async def count(ctx: Context[dict[str, int]]) -> None:
    ctx.session["count"] += 1
    await ctx.reply(f"Messages in this chat: {ctx.session['count']}")


if __name__ == "__main__":
    bot.start()
