"""The Lua scripts of the Redis session lock (see ``_lock`` for how they are used).

Keys of one session ``K`` under the storage prefix ``P``: ``P K`` itself (the value),
``P \\xffbotsessions.lock:K`` (the holder's token, with ``PX lease``),
``P \\xffbotsessions.wait:K`` (the tokens of the waiters, oldest first) and
``P \\xffbotsessions.wait:K:<token>`` (one waiter's wake-up list). The ``\\xff`` byte never
occurs in UTF-8 text, so no session key can name a lock key (see ``_lock``).

Fairness: a free lock goes to the oldest waiter, never to whoever asks first. Releasing
with waiters in line hands the lock over inside the release script: the lock key is set to
the oldest waiter's token and the session value is pushed to that waiter's wake-up list, so
the waiter returns from ``BLPOP`` already holding the lock and knowing the value, and a new
request (from the releasing process or any other) has to queue behind it.

Every script receives ``ARGV[1]`` = token and ``ARGV[2]`` = lease in milliseconds.

Server time: in the benchmark the server shares one CPU with the client, and each
``redis.call`` inside a script costs about as much as the command itself, so the
uncontended paths are kept short. ``ACQUIRE`` takes a free lock with ``LINDEX`` (nobody in
line) and ``SET NX PX``, plus the ``GET`` of the value: three calls where reading the
holder first took four. Its reply is the value itself (a bulk string, nil when there is
none) or, when queued, the holder's ``PTTL`` (an integer), so the client parses no array.
Bench ``W2-redis``/``W2u-redis`` (round trips per update) and ``W3`` show it.
"""

from __future__ import annotations

__all__ = ["ACQUIRE", "LEAVE", "RELEASE", "REMOVE", "RENEW", "SAVE"]

# Hand the lock to the oldest waiter. ``value`` is the session value (``false`` if none),
# or nil to read it. KEYS: 1 lock, 2 session, 3 queue.
_HAND_OVER = """
local function hand_over(known, value)
  local next_token = redis.call('LPOP', KEYS[3])
  if not next_token then return false end
  redis.call('SET', KEYS[1], next_token, 'PX', ARGV[2])
  if not known then value = redis.call('GET', KEYS[2]) end
  local wake = KEYS[3] .. ':' .. next_token
  if value then redis.call('RPUSH', wake, '1' .. value) else redis.call('RPUSH', wake, '0') end
  redis.call('PEXPIRE', wake, ARGV[2])
  return true
end
"""

# KEYS: lock, session, queue, own wake-up list
# ARGV: token, lease ms, read?, already queued?, queue ttl ms
# -> locked: the value (nil when there is none or when not read); queued: the lock's PTTL
#    (an integer). One reply of one type each way, so the client parses no array.
# Fast path: a first request that finds nobody in line and the lock free runs LINDEX and
# SET NX, plus the GET of the value; the holder is only read when that fails (a busy lock,
# or a request repeated after its reply was lost, which finds its own token).
ACQUIRE = (
    _HAND_OVER
    + """
local function locked()
  if ARGV[3] == '1' then return redis.call('GET', KEYS[2]) end
  return false
end
if ARGV[4] == '0' and not redis.call('LINDEX', KEYS[3], 0)
    and redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return locked()
end
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  -- handed over after our last BLPOP gave up: take it from here
  redis.call('DEL', KEYS[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return locked()
end
if not holder then
  local head = redis.call('LINDEX', KEYS[3], 0)
  if not head or head == ARGV[1] then
    if head then redis.call('LPOP', KEYS[3]) end
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return locked()
  end
  -- free, but someone else is first in line (its wake-up was missed or it came late)
  hand_over(false)
end
if ARGV[4] == '0' or not redis.call('LPOS', KEYS[3], ARGV[1]) then
  redis.call('RPUSH', KEYS[3], ARGV[1])
end
redis.call('PEXPIRE', KEYS[3], ARGV[5])
return redis.call('PTTL', KEYS[1])
"""
)

# KEYS: lock, session, queue; ARGV: token, lease ms, value, ttl ms or '', keep?
SAVE = (
    _HAND_OVER
    + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[4] == '' then redis.call('SET', KEYS[2], ARGV[3])
else redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4]) end
if ARGV[5] == '1' then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not hand_over(true, ARGV[3]) then redis.call('DEL', KEYS[1]) end
return 1
"""
)

# KEYS: lock, session, queue; ARGV: token, lease ms, keep?
REMOVE = (
    _HAND_OVER
    + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
if ARGV[3] == '1' then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not hand_over(true, false) then redis.call('DEL', KEYS[1]) end
return 1
"""
)

# KEYS: lock, session, queue; ARGV: token, lease ms
RELEASE = (
    _HAND_OVER
    + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if not hand_over(false) then redis.call('DEL', KEYS[1]) end
return 1
"""
)

# A waiter gives up (timeout, cancellation): leave the line, and pass the lock on if it
# was handed to us meanwhile. KEYS: lock, session, queue, own wake-up list; ARGV: token, lease
LEAVE = (
    _HAND_OVER
    + """
redis.call('LREM', KEYS[3], 0, ARGV[1])
redis.call('DEL', KEYS[4])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if not hand_over(false) then redis.call('DEL', KEYS[1]) end
end
return 1
"""
)

# KEYS: lock; ARGV: token, lease ms
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
