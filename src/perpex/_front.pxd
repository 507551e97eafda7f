from libc.stdint cimport int64_t

from perpex._core cimport Contract, EngineCore

# ``place`` (Exchange.place's checks and commit) as a C call, for the journaled exchange's
# order call (perpex._journaled)
cdef object place_c(EngineCore core, account, symbol, side, qty, price, ord_type, time_in_force,
                    exec_inst, display_qty, stop_px, peg_price_type, peg_offset_value, cl_ord_id,
                    ts)

# The journaled plain order and cancel of perpex._front, for the recovery's replay loop
# (perpex._replay) to call in C. ``ts`` is the record's, checked here as ``_check_ts`` would.
cdef int replay_place_at(EngineCore core, account, Contract c, int side, str ord_type,
                         int time_in_force, qty, price, int64_t ts) except -1
# the listed contract ``symbol`` (the engine's error for another), for the replay loop to find
# each symbol code's once
cdef Contract listed_contract(EngineCore core, symbol)
cdef int replay_cancel_at(EngineCore core, account, order_id, int64_t ts) except -1
