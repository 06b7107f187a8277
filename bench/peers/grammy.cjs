'use strict';
// grammY as a peer of botsessions. Run by bench/peer_grammy.py, prints one JSON object.
//   node grammy.cjs <phase> [--n 20000] [--chats 1000] [--reps 1] [--rotation 0]
//                   [--redis-port 6390] [--count-ops 1] [--k 1000] [--w4-n 1000000]
// phase: memory | redis | w3 | w4
// Updates are raw objects fed with `await bot.handleUpdate(update)`; the Bot gets botInfo,
// and its client.fetch is a stub that counts and throws (no network).
const path = require('path');
const { createRequire } = require('module');

const NODE_DIR = process.env.BOTSESSIONS_BENCH_NODE_DIR;
if (!NODE_DIR) throw new Error('BOTSESSIONS_BENCH_NODE_DIR is not set');
const req = createRequire(path.join(NODE_DIR, 'package.json'));
const { Bot, session, MemorySessionStorage } = req('grammy');

const TOKEN = '123456789:AAFakeTokenForBenchmarkOnly_abcdefghijk';
const BOT_INFO = {
  id: 123456789, is_bot: true, first_name: 'Bench', username: 'bench_bot',
  can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false,
  can_connect_to_business: false, has_main_web_app: false,
};
const W3_CHAT = 777000;

function options() {
  const o = { n: 20000, chats: 1000, reps: 1, rotation: 0, 'redis-port': 6390, 'count-ops': 0, k: 1000, 'w4-n': 1000000 };
  const argv = process.argv.slice(3);
  for (let i = 0; i < argv.length; i += 2) o[argv[i].replace(/^--/, '')] = Number(argv[i + 1]);
  return o;
}
const opt = options();
const progress = (text) => process.stderr.write(`@progress grammY ${text}\n`);
const api = { calls: 0 };
const nowSec = () => Number(process.hrtime.bigint()) / 1e9;

function updatesFor(n, chats, chatBase = 100000) {
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const id = chatBase + (i % chats);
    const name = 'User' + (i % chats);
    out[i] = {
      update_id: 1 + i,
      message: {
        message_id: Math.floor(i / chats) + 1, date: 1700000000 + i,
        chat: { id, type: 'private', first_name: name },
        from: { id, is_bot: false, first_name: name },
        text: 'hello ' + i,
      },
    };
  }
  return out;
}

function offlineBot() {
  return new Bot(TOKEN, {
    botInfo: BOT_INFO,
    client: { fetch: async () => { api.calls++; throw new Error('network disabled in benchmark'); } },
  });
}

function counting(inner, calls) {
  return {
    read: (k) => { calls.read++; return inner.read(k); },
    write: (k, v) => { calls.write++; return inner.write(k, v); },
    delete: (k) => { calls.delete++; return inner.delete(k); },
  };
}

let redis = null;
function redisClient() {
  if (!redis) {
    const Redis = req('ioredis');
    redis = new Redis({ host: '127.0.0.1', port: opt['redis-port'] });
  }
  return redis;
}

async function redisSum() {
  const r = redisClient();
  let cursor = '0'; let keys = [];
  do {
    const [next, batch] = await r.scan(cursor, 'MATCH', '*', 'COUNT', 1000);
    cursor = next; keys = keys.concat(batch);
  } while (cursor !== '0');
  let sum = 0;
  for (let i = 0; i < keys.length; i += 500) {
    for (const v of await r.mget(...keys.slice(i, i + 500))) if (v != null) sum += JSON.parse(v).count || 0;
  }
  await r.flushdb();
  return { keys: keys.length, sum };
}

// name -> [label, build(calls?) -> { bot, verify(n) }]
const WORKLOADS = {
  W0: ['no session, no-op handler', () => {
    const bot = offlineBot(); let handled = 0;
    bot.on('message', () => { handled++; });
    return { bot, verify: async (n) => ({ handled, ok: handled === n }) };
  }],
  W1: ['session() on MemorySessionStorage, ctx.session.count++', (calls) => {
    const bot = offlineBot(); const mem = new MemorySessionStorage();
    bot.use(session({ initial: () => ({ count: 0 }), storage: calls ? counting(mem, calls) : mem }));
    bot.on('message', (ctx) => { ctx.session.count++; });
    return {
      bot,
      verify: async (n) => { const sum = mem.readAllValues().reduce((s, v) => s + v.count, 0); return { sum, ok: sum === n }; },
    };
  }],
  W1u: ['session() on MemorySessionStorage installed, no-op handler', (calls) => {
    const bot = offlineBot(); const mem = new MemorySessionStorage(); let handled = 0;
    bot.use(session({ initial: () => ({ count: 0 }), storage: calls ? counting(mem, calls) : mem }));
    bot.on('message', () => { handled++; });
    return { bot, verify: async (n) => ({ handled, ok: handled === n }) };
  }],
  W2: ['session() on RedisAdapter (ioredis), ctx.session.count++', (calls) => {
    const { RedisAdapter } = req('@grammyjs/storage-redis');
    const bot = offlineBot(); const ad = new RedisAdapter({ instance: redisClient() });
    bot.use(session({ initial: () => ({ count: 0 }), storage: calls ? counting(ad, calls) : ad }));
    bot.on('message', (ctx) => { ctx.session.count++; });
    return { bot, verify: async (n) => { const r = await redisSum(); return { ...r, ok: r.sum === n }; } };
  }],
  W2u: ['session() on RedisAdapter installed, no-op handler', (calls) => {
    const { RedisAdapter } = req('@grammyjs/storage-redis');
    const bot = offlineBot(); const ad = new RedisAdapter({ instance: redisClient() }); let handled = 0;
    bot.use(session({ initial: () => ({ count: 0 }), storage: calls ? counting(ad, calls) : ad }));
    bot.on('message', () => { handled++; });
    return { bot, verify: async (n) => { await redisSum(); return { handled, ok: handled === n }; } };
  }],
};

async function runOnce(name, updates, n, calls) {
  const { bot, verify } = WORKLOADS[name][1](calls);
  const before = api.calls;
  const t0 = nowSec();
  for (let i = 0; i < n; i++) await bot.handleUpdate(updates[i]);
  const secs = nowSec() - t0;
  const checks = await verify(n);
  checks.api_calls = api.calls - before;
  if (!checks.ok || checks.api_calls) throw new Error(`grammY ${name}: check failed: ${JSON.stringify(checks)}`);
  return [secs, checks];
}

async function commandStats() {
  const info = await redisClient().info('commandstats');
  const out = {};
  for (const line of info.split('\n')) {
    const m = /^cmdstat_([a-z|_]+):calls=(\d+)/.exec(line.trim());
    if (m && !['config|resetstat', 'config', 'info', 'flushdb', 'ping', 'select'].includes(m[1])) out[m[1]] = Number(m[2]);
  }
  return out;
}

async function dispatchPhase(phase) {
  const names = phase === 'memory' ? ['W0', 'W1', 'W1u'] : ['W0', 'W2', 'W2u'];
  const n = opt.n;
  const updates = updatesFor(n, opt.chats);
  const result = { system: 'grammY', phase, workloads: {} };
  if (phase === 'redis') {
    const r = redisClient();
    await r.flushdb(); await r.call('CONFIG', 'RESETSTAT');
    await r.set('bench:rtt-probe', '{"count":0}');
    for (let i = 0; i < 200; i++) await r.get('bench:rtt-probe');
    const reps = 3000; const t0 = nowSec();
    for (let i = 0; i < reps; i++) await r.get('bench:rtt-probe');
    result.redis_get_rtt_us = ((nowSec() - t0) / reps) * 1e6;
    await r.del('bench:rtt-probe');
  }
  for (const name of names) { progress(`warm-up ${name}`); await runOnce(name, updates, Math.min(2000, n)); }
  const secs = Object.fromEntries(names.map((x) => [x, []]));
  const checks = {};
  for (let rep = 0; rep < opt.reps; rep++) {
    const shift = rep + opt.rotation;
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + shift) % names.length];
      progress(`${name} (rep ${rep + 1}/${opt.reps})`);
      const [s, c] = await runOnce(name, updates, n);
      secs[name].push(s); checks[name] = c;
    }
  }
  for (const name of names) {
    const row = { label: WORKLOADS[name][0], seconds: secs[name], updates_per_s: secs[name].map((s) => n / s), checks: checks[name] };
    if (name !== 'W0') row.overhead_us = secs[name].map((s, i) => ((s - secs.W0[i]) / n) * 1e6);
    result.workloads[name] = row;
  }
  if (opt['count-ops']) {
    for (const name of names.slice(1)) {
      progress(`storage calls ${name}`);
      const calls = { read: 0, write: 0, delete: 0 };
      if (phase === 'redis') await redisClient().call('CONFIG', 'RESETSTAT');
      await runOnce(name, updates, n, calls);
      const row = result.workloads[name];
      row.storage_calls_per_update = Object.fromEntries(Object.entries(calls).map(([k, v]) => [k, v / n]));
      if (phase === 'redis') {
        const cs = await commandStats();
        // redisSum() in verify ran scan+mget+flushdb: keep only what the session did.
        delete cs.scan; delete cs.mget;
        row.redis_commands_per_update = Object.fromEntries(Object.entries(cs).sort().map(([k, v]) => [k, v / n]));
      }
    }
  }
  return result;
}

async function w3Phase() {
  const { sequentialize } = req('@grammyjs/runner');
  const { RedisAdapter } = req('@grammyjs/storage-redis');
  const rows = [];
  for (const storageKind of ['memory', 'redis']) {
    for (const seq of [false, true]) {
      progress(`W3 ${storageKind}${seq ? ' + sequentialize' : ''}`);
      if (storageKind === 'redis') await redisClient().flushdb();
      const storage = storageKind === 'memory' ? new MemorySessionStorage() : new RedisAdapter({ instance: redisClient() });
      const bot = offlineBot();
      if (seq) bot.use(sequentialize((ctx) => ctx.chat?.id.toString()));
      bot.use(session({ initial: () => ({ count: 0 }), storage }));
      bot.on('message', async (ctx) => {
        const c = ctx.session.count; await new Promise((r) => setTimeout(r, 1)); ctx.session.count = c + 1;
      });
      const updates = updatesFor(opt.k, 1, W3_CHAT);
      const t0 = nowSec();
      const settled = await Promise.allSettled(updates.map((u) => bot.handleUpdate(u)));
      const seconds = nowSec() - t0;
      const stored = await storage.read(String(W3_CHAT));
      const final = stored ? stored.count : 0;
      rows.push({
        system: 'grammY', config: `${storageKind}, ${seq ? 'sequentialize (@grammyjs/runner)' : 'no isolation (default)'}`,
        storage: storageKind, final, lost: opt.k - final,
        errors: settled.filter((s) => s.status === 'rejected').length, seconds,
      });
    }
  }
  if (redis) await redis.flushdb();
  return { system: 'grammY', phase: 'w3', rows };
}

function heap() { global.gc(); return process.memoryUsage().heapUsed; }

async function w4Phase() {
  // One million sessions {count: i, name: 'user<i>'} in MemorySessionStorage with a 1 s TTL,
  // then wait past the TTL and write 1,000 more: does the heap come back?
  const n = opt['w4-n'];
  progress(`W4 ${n} sessions`);
  const s = new MemorySessionStorage(1000);
  const h0 = heap();
  const t0 = nowSec();
  for (let i = 1; i <= n; i++) s.write(String(i), { count: i, name: 'user' + i });
  const secs = nowSec() - t0;
  const h1 = heap();
  await new Promise((r) => setTimeout(r, 1500));
  for (let i = n + 1; i <= n + 1000; i++) s.write(String(i), { count: i, name: 'user' + i });
  await new Promise((r) => setTimeout(r, 100));
  const h2 = heap();
  return {
    system: 'grammY', phase: 'w4', n, us_per_write: (secs / n) * 1e6,
    bytes_per_session: (h1 - h0) / n, method: 'V8 heapUsed after global.gc()',
    retained_after_expiry_bytes_per_session: (h2 - h0) / n,
    entries_after_expiry: s.storage.size,
    reclaimed: s.storage.size <= 1000,
  };
}

async function main() {
  const phase = process.argv[2];
  let result;
  if (phase === 'memory' || phase === 'redis') result = await dispatchPhase(phase);
  else if (phase === 'w3') result = await w3Phase();
  else if (phase === 'w4') result = await w4Phase();
  else throw new Error(`unknown phase ${phase}`);
  if (api.calls) throw new Error(`grammY made ${api.calls} Bot API calls`);
  result.versions = { node: process.version };
  for (const p of ['grammy', '@grammyjs/storage-redis', 'ioredis', '@grammyjs/runner']) {
    result.versions[p] = require(path.join(NODE_DIR, 'node_modules', p, 'package.json')).version;
  }
  if (redis) await redis.quit();
  process.stdout.write(JSON.stringify(result));
}

main().catch((e) => { console.error(e); process.exit(1); });
