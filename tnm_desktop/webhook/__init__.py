"""The TradingView webhook receiver: ``POST /tv/<secret>`` → ``public.ingest_tv_signal``.

The receiver only moves bytes: it reads the body (with a hard cap), applies a per-strategy rate
limit, and passes the secret and the body to the database, which parses, validates, logs and
creates the trade job. It connects as role ``tnm_ingest``, which may call that one function and
nothing else.

Modules (import what you need; this package imports nothing heavy by itself, so the CLI stays
cheap): :mod:`.config` (settings), :mod:`.server` (start and stop, in-loop or on a thread of its
own), :mod:`.app` (the aiohttp application), :mod:`.ingest` (the database call),
:mod:`.ratelimit`, :mod:`.logs` (log lines without secrets), :mod:`.local` (a workspace's receiver
on its pinned port), :mod:`.urls` (which webhook URL, and whether TradingView can reach it),
:mod:`.cli` (``tnm-desktop webhook serve``). ``supabase/functions/tv`` is the same receiver as a
Supabase Edge Function.
"""
