-- The signal log filtered by symbol, newest first, without reading the whole log.
--
-- bench.gui_signals (issue 7) over 1,000,000 signals: filtering by a symbol walked the user's
-- signals newest first until a page matched — 73-141 ms, and the whole log (362 ms under load)
-- for a symbol with no rows. With this index the same page takes 0.02-0.9 ms. Signals without a
-- symbol (malformed alerts) are left out: the filter never asks for them.
-- Idempotent: safe to apply twice.

create index if not exists tv_signals_user_symbol_idx
  on public.tv_signals (user_id, symbol, received_at desc, id desc)
  where symbol is not null;
