# The journaled plain order and cancel of perpex._front, for the recovery's replay loop
# (perpex._replay) to call in C. ``ts`` is the record's, checked here as ``_check_ts`` would.

from libc.stdint cimport int64_t

from perpex._core cimport Contract, EngineCore

cdef int replay_place_at(EngineCore core, account, Contract c, int side, str ord_type,
                         int time_in_force, qty, price, int64_t ts) except -1
# the listed contract ``symbol`` (the engine's error for another), for the replay loop to find
# each symbol code's once
cdef Contract listed_contract(EngineCore core, symbol)
cdef int replay_cancel_at(EngineCore core, account, order_id, int64_t ts) except -1
