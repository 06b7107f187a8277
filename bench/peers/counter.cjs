'use strict';
// grammY's counter bot: the peer of examples/counter.py in the startup benchmark.
//   BOT_TOKEN=... BOT_API_SERVER=http://127.0.0.1:PORT node counter.cjs
// Counts the messages of every chat in an in-memory session and replies with the count,
// exactly like the Python example. Stops on SIGINT or SIGTERM.
const path = require('path');
const { createRequire } = require('module');

const NODE_DIR = process.env.BOTSESSIONS_BENCH_NODE_DIR;
if (!NODE_DIR) throw new Error('BOTSESSIONS_BENCH_NODE_DIR is not set');
const req = createRequire(path.join(NODE_DIR, 'package.json'));
const { Bot, session } = req('grammy');

const bot = new Bot(process.env.BOT_TOKEN, {
  client: { apiRoot: process.env.BOT_API_SERVER },
});

bot.use(session({ initial: () => ({ count: 0 }) }));

bot.on('message', async (ctx) => {
  ctx.session.count += 1;
  await ctx.reply(`Messages in this chat: ${ctx.session.count}`);
});

process.once('SIGINT', () => bot.stop());
process.once('SIGTERM', () => bot.stop());
bot.start();
